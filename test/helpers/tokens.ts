/**
 * Signing keys and access tokens for tests (jose, real keys). `mintAccessToken` makes an RFC 9068 token
 * bound to a certificate thumbprint by default; every claim and header can be overridden or removed
 * (set to undefined) to build negative cases.
 */
import { randomUUID } from 'node:crypto';
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JWK,
  type JWTHeaderParameters,
} from 'jose';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** The public JWK as published in a JWKS (kid, alg, use set). */
  publicJwk: JWK;
}

export async function createSigningKey(alg = 'PS256', kid: string = randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface TokenOptions {
  issuer?: string;
  audience?: string | string[];
  /** Claims merged over the defaults; a claim set to undefined is removed. */
  claims?: Record<string, unknown>;
  /** Header parameters merged over { alg, kid, typ: 'at+jwt' }; undefined removes one. */
  header?: Record<string, unknown>;
  /** Thumbprint for cnf."x5t#S256" (omit `cnf` via claims: { cnf: undefined }). */
  thumbprint?: string;
  expiresInSeconds?: number;
}

export const TEST_ISSUER = 'https://issuer.test';
export const TEST_AUDIENCE = 'https://api.test';

export function defaultClaims(o: TokenOptions): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: o.issuer ?? TEST_ISSUER,
    aud: o.audience ?? TEST_AUDIENCE,
    sub: 'user-1',
    client_id: 'client-a',
    scope: 'accounts payments',
    iat: now,
    exp: now + (o.expiresInSeconds ?? 300),
    jti: randomUUID(),
    ...(o.thumbprint ? { cnf: { 'x5t#S256': o.thumbprint } } : {}),
  };
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export async function mintAccessToken(key: SigningKey, o: TokenOptions = {}): Promise<string> {
  const claims = withoutUndefined({ ...defaultClaims(o), ...o.claims });
  const header = withoutUndefined({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...o.header });
  return new SignJWT(claims).setProtectedHeader(header as JWTHeaderParameters).sign(key.privateKey);
}

/** A JWT with arbitrary header and payload and the given signature part (for alg none / forged tokens). */
export function unsignedJwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  signature = '',
): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc(header)}.${enc(claims)}.${signature}`;
}
