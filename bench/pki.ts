/**
 * The benchmark's credentials, made fresh for every run from the test suite's fixtures (test/helpers): the
 * test PKI (a client CA, an RSA server certificate for 127.0.0.1 and localhost, since the FAPI TLS 1.2 suites
 * are all ECDHE-RSA/DHE-RSA, and client certificates) and an ES256 issuer key. Tokens are certificate-bound
 * (RFC 8705 §3) to the API client's certificate; the gateway authenticates to the introspection endpoint
 * with a second one.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportSPKI, importJWK, type CryptoKey, type JWK } from 'jose';
import { createTestPki, type TestCredential } from '../test/helpers/pki.js';
import { createSigningKey, mintAccessToken as mintTestToken } from '../test/helpers/tokens.js';

/** ES256: HAProxy 2.6 `jwt_verify` supports HS*, RS*, ES* and PS*; ES256 is common in FAPI deployments. */
export const TOKEN_ALGORITHM = 'ES256';
export const TOKEN_ISSUER = 'https://issuer.bench.example';
export const TOKEN_AUDIENCE = 'https://api.bench.example';
export const TOKEN_KID = 'bench-es256';
export const TOKEN_SCOPE = 'accounts';
export const TOKEN_CLIENT_ID = 'bench-client';

export interface BenchFiles {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The issuer's public key, SPKI PEM (what HAProxy's `jwt_verify` reads). */
  issuerPublicKey: string;
}

export interface BenchPki {
  files: BenchFiles;
  ca: TestCredential;
  server: TestCredential;
  /** The API client the load driver presents. */
  client: TestCredential;
  /** The gateway's own client certificate at the introspection endpoint (tls_client_auth). */
  gatewayClient: TestCredential;
  /** RFC 8705 x5t#S256 of the API client's certificate. */
  clientThumbprint: string;
  jwks: { keys: JWK[] };
  signingKey: CryptoKey;
}

export async function createBenchPki(
  dir = mkdtempSync(path.join(tmpdir(), 'fapi-bench-')),
): Promise<BenchPki> {
  const [pki, key] = await Promise.all([createTestPki(dir), createSigningKey(TOKEN_ALGORITHM, TOKEN_KID)]);
  const issuerPublicKey = path.join(dir, 'issuer-public.pem');
  writeFileSync(
    issuerPublicKey,
    await exportSPKI((await importJWK(key.publicJwk, TOKEN_ALGORITHM)) as CryptoKey),
  );
  return {
    files: {
      dir,
      caCert: pki.ca.certFile,
      serverCert: pki.server.certFile,
      serverKey: pki.server.keyFile,
      clientCert: pki.clientA.certFile,
      clientKey: pki.clientA.keyFile,
      issuerPublicKey,
    },
    ca: pki.ca,
    server: pki.server,
    client: pki.clientA,
    gatewayClient: pki.clientB,
    clientThumbprint: pki.clientA.thumbprint,
    jwks: { keys: [key.publicJwk] },
    signingKey: key.privateKey,
  };
}

export interface TokenOptions {
  /** Seconds from now; negative makes an expired token. */
  expiresIn?: number;
  /** `cnf.x5t#S256`; null for an unbound token. */
  thumbprint?: string | null;
  /** RFC 9449 §6 `cnf.jkt`: a DPoP-bound token instead of a certificate-bound one. */
  jkt?: string;
  subject?: string;
  scope?: string;
  issuer?: string;
  audience?: string;
  key?: CryptoKey;
}

/** An RFC 9068 JWT access token bound to a client certificate (RFC 8705 §3.1) or a DPoP key. */
export function mintAccessToken(pki: BenchPki, opts: TokenOptions = {}): Promise<string> {
  const thumbprint = opts.thumbprint === undefined ? pki.clientThumbprint : opts.thumbprint;
  const cnf = opts.jkt ? { jkt: opts.jkt } : thumbprint !== null ? { 'x5t#S256': thumbprint } : undefined;
  return mintTestToken(
    {
      kid: TOKEN_KID,
      alg: TOKEN_ALGORITHM,
      privateKey: opts.key ?? pki.signingKey,
      publicJwk: pki.jwks.keys[0]!,
    },
    {
      issuer: opts.issuer ?? TOKEN_ISSUER,
      audience: opts.audience ?? TOKEN_AUDIENCE,
      expiresInSeconds: opts.expiresIn ?? 3600,
      claims: {
        client_id: TOKEN_CLIENT_ID,
        scope: opts.scope ?? TOKEN_SCOPE,
        sub: opts.subject ?? 'user-1',
        cnf,
      },
    },
  );
}

/** `count` distinct valid tokens (scenario b), minted in parallel batches. */
export async function mintManyTokens(pki: BenchPki, count: number, expiresIn = 3600): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, (_, j) =>
      mintAccessToken(pki, { subject: `user-${i + j}`, expiresIn }),
    );
    tokens.push(...(await Promise.all(batch)));
  }
  return tokens;
}
