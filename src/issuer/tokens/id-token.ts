/**
 * ID tokens (OIDC Core §2, §3.1.3.6, §3.3.2.11; FAPI 1 Advanced §5.2.2.1; CIBA §7.4), for the
 * authorization code flow and CIBA: signed with the issuer's key of the client's
 * `idTokenSignedResponseAlg`, with the detached-signature hashes of what travels next to them
 * (`at_hash`, `c_hash`, `s_hash`, `urn:openid:params:jwt:claim:rt_hash`).
 */
import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import type { ClientConfig } from '../config.js';
import type { IssuerRuntime } from '../runtime.js';
import type { SigningAlgorithm } from '../keys/signing-keys.js';

/**
 * OIDC Core §3.1.3.6: base64url of the left-most half of the hash of the ASCII value, with the hash of
 * the JWS algorithm (SHA-256 for PS256 and ES256).
 */
export function leftHalfHash(value: string, alg: SigningAlgorithm): string {
  // Both FAPI algorithms use SHA-256; a new algorithm must add its hash here.
  const hash: Record<SigningAlgorithm, string> = { PS256: 'sha256', ES256: 'sha256' };
  const digest = createHash(hash[alg]).update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenRequest {
  client: ClientConfig;
  sub: string;
  /** Unix seconds of the end-user's authentication. */
  authTime: number;
  nonce?: string;
  acr?: string;
  amr?: string[];
  /** Values whose hashes the ID token carries (detached signature). */
  accessToken?: string;
  code?: string;
  state?: string;
  refreshToken?: string;
  /** CIBA §7.4 (push mode): the auth_req_id, as `urn:openid:params:jwt:claim:auth_req_id`. */
  authReqId?: string;
  /** End-user claims (name, email, ...). */
  claims?: Record<string, unknown>;
}

export async function signIdToken(runtime: IssuerRuntime, request: IdTokenRequest): Promise<string> {
  const alg = request.client.idTokenSignedResponseAlg;
  const key = runtime.keys.forAlgorithm(alg);
  if (!key) throw new Error(`no signing key for ${alg} (checked at start-up)`);
  const iat = runtime.clock.nowSeconds();
  const payload: Record<string, unknown> = {
    ...request.claims,
    auth_time: request.authTime,
    ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
    ...(request.acr !== undefined ? { acr: request.acr } : {}),
    ...(request.amr !== undefined ? { amr: request.amr } : {}),
    ...(request.accessToken !== undefined ? { at_hash: leftHalfHash(request.accessToken, alg) } : {}),
    ...(request.code !== undefined ? { c_hash: leftHalfHash(request.code, alg) } : {}),
    ...(request.state !== undefined ? { s_hash: leftHalfHash(request.state, alg) } : {}),
    ...(request.refreshToken !== undefined
      ? { 'urn:openid:params:jwt:claim:rt_hash': leftHalfHash(request.refreshToken, alg) }
      : {}),
    ...(request.authReqId !== undefined
      ? { 'urn:openid:params:jwt:claim:auth_req_id': request.authReqId }
      : {}),
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(runtime.urls.issuer)
    .setSubject(request.sub)
    .setAudience(request.client.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + runtime.config.idTokens.ttlSeconds)
    .sign(key.privateKey);
}
