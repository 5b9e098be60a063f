/**
 * The benchmark's credentials, made fresh for every run: a client CA, an RSA server certificate for
 * 127.0.0.1 (the FAPI TLS 1.2 suites are all ECDHE-RSA/DHE-RSA), one client certificate, and the
 * issuer's ES256 signing key. Tokens are certificate-bound (RFC 8705 §3) to the client certificate.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { createCa, issueCertificate, type IssuedCertificate } from '../src/pki/certificates.js';
import { certificateThumbprint } from '../src/pki/thumbprint.js';

/** ES256: HAProxy 2.6 `jwt_verify` supports HS*, RS*, ES* and PS*; ES256 is common in FAPI deployments. */
export const TOKEN_ALGORITHM = 'ES256';
export const TOKEN_ISSUER = 'https://issuer.bench.example';
export const TOKEN_AUDIENCE = 'https://api.bench.example';
export const TOKEN_KID = 'bench-es256';
export const TOKEN_SCOPE = 'accounts';

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
  ca: IssuedCertificate;
  server: IssuedCertificate;
  client: IssuedCertificate;
  /** RFC 8705 x5t#S256 of the client certificate. */
  clientThumbprint: string;
  jwks: { keys: JWK[] };
  signingKey: CryptoKey;
}

export async function createBenchPki(
  dir = mkdtempSync(path.join(tmpdir(), 'fapi-bench-')),
): Promise<BenchPki> {
  const ca = await createCa({ subject: 'CN=fapi-gateway bench CA' });
  const [server, client] = await Promise.all([
    issueCertificate(ca, {
      subject: 'CN=localhost',
      usage: 'server',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
    }),
    issueCertificate(ca, { subject: 'CN=bench-client,O=Bench', usage: 'client' }),
  ]);
  const { publicKey, privateKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: TOKEN_KID, alg: TOKEN_ALGORITHM, use: 'sig' };
  const write = (name: string, content: string, mode = 0o644) => {
    const file = path.join(dir, name);
    writeFileSync(file, content, { mode });
    return file;
  };
  const files: BenchFiles = {
    dir,
    caCert: write('ca.pem', ca.certPem),
    serverCert: write('server.pem', server.certPem),
    serverKey: write('server-key.pem', server.keyPem, 0o600),
    clientCert: write('client.pem', client.certPem),
    clientKey: write('client-key.pem', client.keyPem, 0o600),
    issuerPublicKey: write('issuer-public.pem', await exportSPKI(publicKey)),
  };
  return {
    files,
    ca,
    server,
    client,
    clientThumbprint: certificateThumbprint(client.der),
    jwks: { keys: [jwk] },
    signingKey: privateKey,
  };
}

export interface TokenOptions {
  /** Seconds from now; negative makes an expired token. */
  expiresIn?: number;
  thumbprint?: string | null;
  subject?: string;
  scope?: string;
  issuer?: string;
  audience?: string;
  key?: CryptoKey;
}

/** An RFC 9068 JWT access token bound to a client certificate (RFC 8705 §3.1 `cnf.x5t#S256`). */
export async function mintAccessToken(pki: BenchPki, opts: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const thumbprint = opts.thumbprint === undefined ? pki.clientThumbprint : opts.thumbprint;
  const claims: Record<string, unknown> = {
    client_id: 'bench-client',
    scope: opts.scope ?? TOKEN_SCOPE,
    jti: randomUUID(),
  };
  if (thumbprint !== null) claims.cnf = { 'x5t#S256': thumbprint };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'at+jwt', kid: TOKEN_KID })
    .setIssuer(opts.issuer ?? TOKEN_ISSUER)
    .setAudience(opts.audience ?? TOKEN_AUDIENCE)
    .setSubject(opts.subject ?? 'user-1')
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expiresIn ?? 3600))
    .sign(opts.key ?? pki.signingKey);
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
