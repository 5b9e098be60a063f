/**
 * Checks that need key material or files, run once at start-up (the schema in config.ts has checked
 * shapes already). Every problem names its key path, e.g.
 * `clients[2].jwks: RSA key of 1024 bits; FAPI needs >= 2048`; any problem stops the start.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { FetchImplementation } from 'jose';
import { ConfigError, type ConfigProblem } from '../config/load.js';
import type { IssuerConfig } from './config.js';
import { authorizationClientProblems } from './authorize/client-policy.js';
import { cibaClientProblems } from './ciba/client-checks.js';
import {
  DistinguishedNameSyntaxError,
  parseDistinguishedName,
  type DistinguishedName,
} from './client-auth/distinguished-name.js';
import { loadClientKeys, type ClientKeys } from './keys/client-keys.js';
import { algorithmsForKey, secretEntropyBits } from './keys/key-strength.js';
import { loadSigningKeys, type SigningKeySet } from './keys/signing-keys.js';
import { serverKeyKind, TlsPolicyError } from '../tls/policy.js';
import { readNonceSecret } from './steps/dpop-proof.js';
import { MIN_NONCE_SECRET_BYTES } from '../dpop/index.js';

export interface PreparedIssuer {
  keys: SigningKeySet;
  clientKeys: Map<string, ClientKeys>;
  subjectDns: Map<string, DistinguishedName>;
}

export const MIN_SECRET_BITS = 256;

function checkTls(config: IssuerConfig, problems: ConfigProblem[]): void {
  try {
    serverKeyKind(readFileSync(config.tls.key));
  } catch (err) {
    if (err instanceof TlsPolicyError) problems.push({ path: 'tls.key', message: err.problem });
  }
  try {
    createSecureContext({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) });
  } catch (err) {
    problems.push({
      path: 'tls.key',
      message: `the certificate and key do not load together: ${(err as Error).message}`,
    });
  }
  try {
    const pem = readFileSync(config.tls.clientCa, 'utf8');
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new Error('no PEM certificate found');
    for (const b of blocks) new X509Certificate(b);
  } catch (err) {
    problems.push({ path: 'tls.clientCa', message: `not a PEM CA bundle: ${(err as Error).message}` });
  }
}

/** `dpop.nonce.secretFile` must be readable and hold an HMAC key of at least 32 bytes. */
function dpopNonceSecretProblems(config: IssuerConfig): ConfigProblem[] {
  const file = config.dpop.nonce.secretFile;
  if (file === null) return [];
  const path = 'dpop.nonce.secretFile';
  try {
    const bytes = readNonceSecret(file).length;
    if (bytes < MIN_NONCE_SECRET_BYTES)
      return [
        {
          path,
          message: `${bytes} bytes; the nonce secret needs >= ${MIN_NONCE_SECRET_BYTES} (e.g. openssl rand -base64 48 > ${file})`,
        },
      ];
  } catch (err) {
    return [{ path, message: `cannot be read: ${(err as Error).message}` }];
  }
  return [];
}

export function prepareIssuer(
  config: IssuerConfig,
  options: { configFile?: string; fetch?: FetchImplementation } = {},
): PreparedIssuer {
  const problems: ConfigProblem[] = [];
  checkTls(config, problems);
  const keys = loadSigningKeys(config.signingKeys, problems);
  const clientKeys = loadClientKeys(config.clients, problems, { fetch: options.fetch });
  const subjectDns = new Map<string, DistinguishedName>();
  const redisPasswordFile = config.storage.redis?.passwordFile;
  if (config.storage.type === 'redis' && redisPasswordFile !== undefined) {
    try {
      readFileSync(redisPasswordFile);
    } catch (err) {
      problems.push({
        path: 'storage.redis.passwordFile',
        message: `cannot be read: ${(err as Error).message}`,
      });
    }
  }

  config.clients.forEach((client, i) => {
    const at = (key: string) => `clients[${i}].${key}`;
    if (client.tlsClientAuthSubjectDn !== undefined) {
      try {
        subjectDns.set(client.clientId, parseDistinguishedName(client.tlsClientAuthSubjectDn));
      } catch (err) {
        if (!(err instanceof DistinguishedNameSyntaxError)) throw err;
        problems.push({ path: at('tlsClientAuthSubjectDn'), message: `not an RFC 4514 DN: ${err.message}` });
      }
    }
    if (client.authMethod === 'client_secret_jwt' && client.clientSecret !== undefined) {
      const bits = secretEntropyBits(client.clientSecret);
      if (bits < MIN_SECRET_BITS)
        problems.push({
          path: at('clientSecret'),
          message: `about ${bits} bits of entropy; client_secret_jwt needs >= ${MIN_SECRET_BITS} (e.g. 43+ random base64url characters: openssl rand -base64 32)`,
        });
      if (client.tokenEndpointAuthSigningAlg !== undefined)
        problems.push({
          path: at('tokenEndpointAuthSigningAlg'),
          message: 'client_secret_jwt always uses HS256; remove this key',
        });
    }
    const staticKeys = clientKeys.get(client.clientId)?.staticKeys;
    if (client.authMethod === 'private_key_jwt' && staticKeys) {
      const usable = staticKeys.flatMap((k) => algorithmsForKey(k));
      const want = client.tokenEndpointAuthSigningAlg;
      if (want ? !usable.includes(want) : usable.length === 0)
        problems.push({
          path: at(client.jwks ? 'jwks' : 'jwksFile'),
          message: `no key usable for ${want ?? 'PS256 or ES256'} (needs an RSA key for PS256 or a P-256 key for ES256)`,
        });
    }
    const needsIdTokens = client.grantTypes.some(
      (g) => g === 'authorization_code' || g === 'urn:openid:params:grant-type:ciba',
    );
    if (needsIdTokens && keys && !keys.forAlgorithm(client.idTokenSignedResponseAlg))
      problems.push({
        path: at('idTokenSignedResponseAlg'),
        message: `no issuer signing key for ${client.idTokenSignedResponseAlg}; add one to signingKeys`,
      });
  });

  problems.push(...dpopNonceSecretProblems(config));
  problems.push(...authorizationClientProblems(config));
  problems.push(...cibaClientProblems(config));
  if (problems.length > 0 || !keys)
    throw new ConfigError(options.configFile ?? 'issuer configuration', problems);
  return { keys, clientKeys, subjectDns };
}
