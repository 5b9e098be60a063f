/**
 * Client-side helpers for authorization code flow tests: a client signing key pair with its public
 * JWKS, signed request objects (RFC 9101) with overridable claims and header, and PKCE pairs.
 */
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, exportJWK, type JWK, type JWTPayload } from 'jose';

export interface ClientSigningKey {
  alg: 'PS256' | 'ES256';
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
  jwks: { keys: JWK[] };
}

export async function clientSigningKey(
  alg: 'PS256' | 'ES256' = 'PS256',
  kid = `k-${randomBytes(4).toString('hex')}`,
): Promise<ClientSigningKey> {
  const { privateKey, publicKey } =
    alg === 'PS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk, jwks: { keys: [publicJwk] } };
}

export interface RequestObjectOptions {
  key: ClientSigningKey;
  clientId: string;
  audience: string;
  /** Authorization parameters (and claim overrides: exp/nbf/iat/aud/iss as `undefined` to drop). */
  claims: JWTPayload;
  /** Seconds since the epoch; default now. */
  now?: number;
  lifetimeSeconds?: number;
  header?: Record<string, unknown>;
}

export async function signedRequestObject(opts: RequestObjectOptions): Promise<string> {
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    iss: opts.clientId,
    aud: opts.audience,
    iat: now,
    nbf: now,
    exp: now + (opts.lifetimeSeconds ?? 300),
    jti: randomBytes(12).toString('base64url'),
    ...opts.claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: opts.key.alg, kid: opts.key.kid, typ: 'oauth-authz-req+jwt', ...opts.header })
    .sign(opts.key.privateKey);
}

/** An unsigned (`alg: none`) JWT: what a request object must never be. */
export function unsignedJwt(payload: JWTPayload): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'oauth-authz-req+jwt' })}.${enc(payload)}.`;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}
