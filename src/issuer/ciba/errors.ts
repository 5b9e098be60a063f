/**
 * CIBA decisions are data: every refusal at the backchannel authentication endpoint (CIBA Core 1.0 §13) or
 * at the token endpoint for the CIBA grant (§11) is an `OAuthError` value whose reason is `ciba_` and the
 * error code (refusals.ts); the endpoint edges throw it and the one renderer answers RFC 6749 §5.2 JSON
 * with `Cache-Control: no-store`.
 */
import { OAuthError } from '../errors.js';

export { fail, ok, type Result } from '../errors.js';

/** Error codes of the backchannel authentication endpoint (CIBA Core 1.0 §13). */
export type AuthenticationErrorCode =
  | 'invalid_request'
  | 'invalid_scope'
  | 'expired_login_hint_token'
  | 'unknown_user_id'
  | 'unauthorized_client'
  | 'missing_user_code'
  | 'invalid_user_code'
  | 'invalid_binding_message';

/** Error codes of the token endpoint for the CIBA grant (CIBA Core 1.0 §11, RFC 6749 §5.2). */
export type TokenErrorCode =
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'access_denied'
  | 'invalid_grant'
  | 'invalid_request'
  | 'unauthorized_client';

/** A CIBA refusal: its `error` is one of the codes of the endpoint that refuses. */
export type CibaError<Code extends string = AuthenticationErrorCode | TokenErrorCode> = OAuthError & {
  readonly error: Code;
};

/** §13: every error of the backchannel authentication endpoint (client authentication aside) is a 400. */
export function authenticationError(
  error: AuthenticationErrorCode,
  description: string,
): CibaError<AuthenticationErrorCode> {
  return new OAuthError(`ciba_${error}`, description) as CibaError<AuthenticationErrorCode>;
}

/** §11 and RFC 6749 §5.2: every token endpoint error of the CIBA grant is a 400. */
export function tokenError(error: TokenErrorCode, description: string): CibaError<TokenErrorCode> {
  return new OAuthError(`ciba_${error}`, description) as CibaError<TokenErrorCode>;
}

/** A CIBA limit refusal (refusals.ts names which limit), with RFC 6585 §4 Retry-After when it has one. */
export function limitError(
  reason: 'ciba_client_rate' | 'ciba_user_pending' | 'ciba_client_pending' | 'ciba_user_code_limited',
  description: string,
  retryAfterSeconds?: number,
): CibaError<AuthenticationErrorCode> {
  return new OAuthError(
    reason,
    description,
    retryAfterSeconds !== undefined ? { headers: { 'Retry-After': String(retryAfterSeconds) } } : {},
  ) as CibaError<AuthenticationErrorCode>;
}
