/**
 * The ID token claims of a CIBA grant (OpenID Connect Core §2, CIBA Core §10.3.1). In push mode the ID
 * token is the client's only way to check the tokens it receives at its notification endpoint, so it
 * carries `at_hash`, `urn:openid:params:jwt:claim:rt_hash` (when a refresh token is issued) and
 * `urn:openid:params:jwt:claim:auth_req_id`. We add the same claims in poll and ping mode: they cost
 * nothing and let every client tie the ID token to its request.
 */
import { tokenHash } from './identifiers.js';

export const AUTH_REQ_ID_CLAIM = 'urn:openid:params:jwt:claim:auth_req_id';
export const RT_HASH_CLAIM = 'urn:openid:params:jwt:claim:rt_hash';

export interface CibaIdTokenInput {
  issuer: string;
  clientId: string;
  subject: string;
  /** Unix seconds. */
  now: number;
  ttlSeconds: number;
  alg: string;
  authReqId: string;
  accessToken: string;
  refreshToken?: string;
  authTime?: number;
  acr?: string;
  /** Standard claims of the user released by the granted scopes (profile, email, ...). */
  userClaims?: Record<string, unknown>;
}

export function cibaIdTokenClaims(i: CibaIdTokenInput): Record<string, unknown> {
  return {
    ...i.userClaims,
    iss: i.issuer,
    sub: i.subject,
    aud: i.clientId,
    azp: i.clientId,
    iat: i.now,
    exp: i.now + i.ttlSeconds,
    ...(i.authTime !== undefined && { auth_time: i.authTime }),
    ...(i.acr !== undefined && { acr: i.acr }),
    at_hash: tokenHash(i.accessToken, i.alg),
    ...(i.refreshToken !== undefined && { [RT_HASH_CLAIM]: tokenHash(i.refreshToken, i.alg) }),
    [AUTH_REQ_ID_CLAIM]: i.authReqId,
  };
}

/** OpenID Connect Core §5.4: the standard claims each scope releases. */
const SCOPE_CLAIMS: Record<string, readonly string[]> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

export function claimsForScopes(
  claims: Record<string, unknown>,
  scopes: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of scopes)
    for (const name of SCOPE_CLAIMS[s] ?? []) if (claims[name] !== undefined) out[name] = claims[name];
  return out;
}
