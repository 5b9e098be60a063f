/**
 * Which end-user claims a client gets (OIDC Core §5.4, §5.5): userinfo releases the claims of the
 * granted standard scopes plus those named in `claims.userinfo`; the ID token from the token endpoint
 * only those named in `claims.id_token` (with an access token issued, scope claims belong to userinfo).
 */
import type { ClaimsRequest } from './claims-request.js';

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

/** Claims that describe the token or the authentication, never copied from user records. */
const PROTOCOL_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'auth_time',
  'nonce',
  'acr',
  'amr',
  'azp',
  'at_hash',
  'c_hash',
  's_hash',
  'cnf',
]);

function pick(userClaims: Record<string, unknown>, names: Iterable<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    if (PROTOCOL_CLAIMS.has(name)) continue;
    if (Object.prototype.hasOwnProperty.call(userClaims, name)) out[name] = userClaims[name];
  }
  return out;
}

export function userinfoClaims(
  userClaims: Record<string, unknown>,
  scopes: readonly string[],
  request: ClaimsRequest | undefined,
): Record<string, unknown> {
  const names = new Set<string>();
  for (const scope of scopes) for (const n of SCOPE_CLAIMS[scope] ?? []) names.add(n);
  for (const n of Object.keys(request?.userinfo ?? {})) names.add(n);
  return pick(userClaims, names);
}

export function idTokenUserClaims(
  userClaims: Record<string, unknown>,
  request: ClaimsRequest | undefined,
): Record<string, unknown> {
  return pick(userClaims, Object.keys(request?.id_token ?? {}));
}
