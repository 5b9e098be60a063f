/**
 * ID token contents (OIDC Core §2, §3.1.3.6, §3.3.2.11) and the hash claims that make it a detached
 * signature over the front-channel response (FAPI 1 Advanced §5.2.2.1: `c_hash`, `s_hash`).
 */
import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';

export type IdTokenAlgorithm = 'PS256' | 'ES256';

/** The hash function of a JWS algorithm: both FAPI algorithms use SHA-256. */
const HASH_OF: Record<IdTokenAlgorithm, string> = { PS256: 'sha256', ES256: 'sha256' };

/**
 * OIDC Core §3.3.2.11 (at_hash §3.1.3.6, s_hash FAPI 1 Advanced §5.1): hash the ASCII octets of the
 * value with the hash of the ID token's `alg`, keep the left-most half, base64url-encode it.
 */
export function idTokenHash(value: string, alg: IdTokenAlgorithm): string {
  const digest = createHash(HASH_OF[alg]).update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenInput {
  issuer: string;
  clientId: string;
  sub: string;
  /** Seconds since the epoch of the end-user authentication. */
  authTime: number;
  acr?: string;
  amr?: string[];
  nonce?: string;
  /** Front-channel (hybrid) response: hashes of the code and state; back-channel: of the access token. */
  accessToken?: string;
  code?: string;
  state?: string;
  alg: IdTokenAlgorithm;
  now: number;
  ttlSeconds: number;
  /** End-user claims to include (already filtered by scope / claims request). */
  userClaims?: Record<string, unknown>;
}

export function idTokenClaims(input: IdTokenInput): JWTPayload {
  return {
    ...input.userClaims,
    iss: input.issuer,
    sub: input.sub,
    aud: input.clientId,
    azp: input.clientId,
    exp: input.now + input.ttlSeconds,
    iat: input.now,
    auth_time: input.authTime,
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    ...(input.acr !== undefined ? { acr: input.acr } : {}),
    ...(input.amr !== undefined ? { amr: input.amr } : {}),
    ...(input.accessToken !== undefined ? { at_hash: idTokenHash(input.accessToken, input.alg) } : {}),
    ...(input.code !== undefined ? { c_hash: idTokenHash(input.code, input.alg) } : {}),
    ...(input.state !== undefined ? { s_hash: idTokenHash(input.state, input.alg) } : {}),
  };
}
