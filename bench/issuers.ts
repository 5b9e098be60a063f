/**
 * The issuer scenarios' shared fixture: the same clients, signing key and requests for fapi-gateway's
 * issuer and for node-oidc-provider (bench/oidc-provider-peer.ts). One ES256 signing key (the bench's
 * token key) for both; a tls_client_auth client and a private_key_jwt client presenting the API client's
 * certificate (their tokens are bound to it, RFC 8705 §3); a resource server authenticating with the
 * gateway's certificate to introspect; and a client whose tokens are opaque (the only kind
 * node-oidc-provider introspects).
 */
import { X509Certificate, createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createSigner } from 'fast-jwt';
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';
import type { OidcProviderPeerSpec } from './oidc-provider-peer.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_KID, TOKEN_SCOPE, type BenchPki } from './pki.js';

export const ISSUER_CLIENTS = {
  tls: 'bench-tls',
  jwt: 'bench-jwt',
  resourceServer: 'bench-rs',
  opaque: 'bench-opaque',
} as const;

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const TOKEN_PATH = '/token';
/** The same access token lifetime on both servers. */
export const ACCESS_TOKEN_SECONDS = 600;
export const INTROSPECTION_PATH = '/introspect';

export interface IssuerFixture {
  pki: BenchPki;
  /** The signing key as PKCS#8 PEM (fapi-gateway's issuer reads a file) and as a private JWK. */
  signingKeyFile: string;
  signingJwk: JWK;
  /** The private_key_jwt client's key pair. */
  jwtClient: { privateKey: KeyObject; publicJwk: JWK };
  /** RFC 4514 subject DNs of the API client's and the gateway's certificates. */
  clientSubjectDn: string;
  resourceServerSubjectDn: string;
  /** Settings merged over the issuer's configuration, `clients` appended (the hostile soak's CIBA set-up). */
  settings?: Record<string, unknown> & { clients?: Record<string, unknown>[] };
}

/** RFC 4514 lists RDNs in the reverse of their encoding order (§2.1); Node prints them in encoding order. */
export function rfc4514Subject(certPem: string): string {
  return new X509Certificate(certPem).subject.split('\n').reverse().join(',');
}

export async function createIssuerFixture(pki: BenchPki, dir: string): Promise<IssuerFixture> {
  const signingKeyFile = path.join(dir, 'issuer-signing-key.pem');
  writeFileSync(signingKeyFile, await exportPKCS8(pki.signingKey), { mode: 0o600 });
  const signingJwk = { ...(await exportJWK(pki.signingKey)), kid: TOKEN_KID, alg: 'ES256', use: 'sig' };
  const client = await generateKeyPair('ES256', { extractable: true });
  const privateKey = createPrivateKey({ key: await exportJWK(client.privateKey), format: 'jwk' });
  return {
    pki,
    signingKeyFile,
    signingJwk,
    jwtClient: {
      privateKey,
      publicJwk: { ...(await exportJWK(client.publicKey)), kid: 'bench-jwt-1', alg: 'ES256', use: 'sig' },
    },
    clientSubjectDn: rfc4514Subject(pki.client.certPem),
    resourceServerSubjectDn: rfc4514Subject(pki.gatewayClient.certPem),
  };
}

/** Where the issuer keeps its state: its own memory (the default) or a Redis its replicas share. */
export type IssuerStorageSetting = { type: 'memory' } | { type: 'redis'; redis: { url: string } };

/** fapi-gateway's issuer configuration: one mTLS listener does all the work the scenarios measure. */
export function issuerConfig(
  f: IssuerFixture,
  ports: { listen: number; mtls: number; admin: number },
  storage: IssuerStorageSetting = { type: 'memory' },
): Record<string, unknown> {
  const { files } = f.pki;
  const scopes = [TOKEN_SCOPE];
  const { clients: extraClients, ...settings } = f.settings ?? {};
  return {
    issuer: TOKEN_ISSUER,
    listen: { host: '127.0.0.1', port: ports.listen },
    mtls: { host: '127.0.0.1', port: ports.mtls },
    admin: { host: '127.0.0.1', port: ports.admin },
    tls: { cert: files.serverCert, key: files.serverKey, clientCa: files.caCert },
    signingKeys: [{ file: f.signingKeyFile, alg: 'ES256', kid: TOKEN_KID }],
    profile: 'fapi2-security',
    accessTokens: { audience: TOKEN_AUDIENCE, ttlSeconds: ACCESS_TOKEN_SECONDS, format: 'jwt' },
    storage,
    clients: [
      {
        clientId: ISSUER_CLIENTS.tls,
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: f.clientSubjectDn,
        scopes,
        grantTypes: ['client_credentials'],
      },
      {
        clientId: ISSUER_CLIENTS.opaque,
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: f.clientSubjectDn,
        scopes,
        grantTypes: ['client_credentials'],
        accessTokenFormat: 'opaque',
      },
      {
        clientId: ISSUER_CLIENTS.jwt,
        authMethod: 'private_key_jwt',
        jwks: { keys: [f.jwtClient.publicJwk] },
        scopes,
        grantTypes: ['client_credentials'],
      },
      {
        clientId: ISSUER_CLIENTS.resourceServer,
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: f.resourceServerSubjectDn,
        scopes,
        grantTypes: ['client_credentials'],
        introspection: true,
      },
      ...(extraClients ?? []),
    ],
    logging: { level: 'info' },
    ...settings,
  };
}

export function oidcProviderSpec(f: IssuerFixture): OidcProviderPeerSpec {
  const { files } = f.pki;
  return {
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
    scope: TOKEN_SCOPE,
    accessTokenSeconds: ACCESS_TOKEN_SECONDS,
    serverCert: files.serverCert,
    serverKey: files.serverKey,
    caCert: files.caCert,
    signingJwk: f.signingJwk,
    clients: {
      tls: { clientId: ISSUER_CLIENTS.tls, subjectDn: f.clientSubjectDn },
      jwt: { clientId: ISSUER_CLIENTS.jwt, jwks: { keys: [f.jwtClient.publicJwk] } },
      resourceServer: { clientId: ISSUER_CLIENTS.resourceServer, subjectDn: f.resourceServerSubjectDn },
      opaque: { clientId: ISSUER_CLIENTS.opaque, subjectDn: f.clientSubjectDn },
    },
  };
}

/** (i1) and the tokens introspected in (i3): client_credentials authenticated by the certificate alone. */
export function tlsClientCredentialsForm(clientId: string = ISSUER_CLIENTS.tls): string {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    scope: TOKEN_SCOPE,
  }).toString();
}

/** RFC 8705 §2: a tls_client_auth client names itself with client_id. */
export function introspectionForm(token: string, clientId: string = ISSUER_CLIENTS.resourceServer): string {
  return new URLSearchParams({ token, token_type_hint: 'access_token', client_id: clientId }).toString();
}

/**
 * (i2)'s requests: client_credentials with a private_key_jwt assertion (RFC 7523 §3) each, a new jti
 * every time (both servers refuse a replayed one) and `aud` the issuer identifier (FAPI 2.0 SP
 * §5.3.2.1). fast-jwt signs synchronously, so tens of thousands are ready in a second or two.
 */
export function assertionSigner(f: IssuerFixture): (count: number) => string[] {
  const sign = createSigner({
    key: f.jwtClient.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    algorithm: 'ES256',
    kid: f.jwtClient.publicJwk.kid,
  });
  return (count) => {
    const now = Math.floor(Date.now() / 1000);
    return Array.from({ length: count }, () =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        scope: TOKEN_SCOPE,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: sign({
          iss: ISSUER_CLIENTS.jwt,
          sub: ISSUER_CLIENTS.jwt,
          aud: TOKEN_ISSUER,
          jti: randomUUID(),
          iat: now,
          exp: now + 300,
        }),
      }).toString(),
    );
  };
}

export function writeForms(dir: string, name: string, forms: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(forms));
  return file;
}

export interface FormAnswer {
  status: number;
  json: Record<string, unknown>;
}

/** One form POST over mTLS, as a client sends it (probes and fixtures, never inside a measured window). */
export function postForm(
  url: string,
  form: string,
  credential: { certFile: string; keyFile: string },
  caFile: string,
): Promise<FormAnswer> {
  return new Promise((resolve) => {
    const req = https.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        cert: readFileSync(credential.certFile),
        key: readFileSync(credential.keyFile),
        ca: readFileSync(caFile),
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, json: {} }));
    req.end(form);
  });
}

/** Polls the token endpoint until it issues a token to the tls_client_auth client. */
export async function waitUntilIssuing(name: string, tokenUrl: string, f: IssuerFixture, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last: FormAnswer = { status: 0, json: {} };
  while (Date.now() < deadline) {
    last = await postForm(tokenUrl, tlsClientCredentialsForm(), clientCredential(f), f.pki.files.caCert);
    if (last.status === 200 && typeof last.json.access_token === 'string') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${name} issued no token at ${tokenUrl} within ${timeoutMs} ms (last status ${last.status} ${JSON.stringify(last.json.error ?? null)})`,
  );
}

export function clientCredential(f: IssuerFixture): { certFile: string; keyFile: string } {
  return { certFile: f.pki.files.clientCert, keyFile: f.pki.files.clientKey };
}

export function resourceServerCredential(f: IssuerFixture): { certFile: string; keyFile: string } {
  return { certFile: f.pki.gatewayClient.certFile, keyFile: f.pki.gatewayClient.keyFile };
}

/**
 * A fresh access token of `clientId` to introspect in a round, checked once to be active for the
 * resource server (an inactive answer is cheap and would flatter whoever gave it).
 */
export async function tokenToIntrospect(
  tokenUrl: string,
  clientId: string,
  f: IssuerFixture,
): Promise<string> {
  const caFile = f.pki.files.caCert;
  const issued = await postForm(tokenUrl, tlsClientCredentialsForm(clientId), clientCredential(f), caFile);
  const token = issued.json.access_token;
  if (typeof token !== 'string')
    throw new Error(
      `${tokenUrl}: no token for ${clientId} (${issued.status} ${JSON.stringify(issued.json.error ?? null)})`,
    );
  const introspectionUrl = new URL(INTROSPECTION_PATH, tokenUrl).toString();
  const answer = await postForm(
    introspectionUrl,
    introspectionForm(token),
    resourceServerCredential(f),
    caFile,
  );
  if (answer.status !== 200 || answer.json.active !== true)
    throw new Error(`${introspectionUrl}: the fresh token is not active (${answer.status})`);
  return token;
}
