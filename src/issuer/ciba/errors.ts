/**
 * CIBA decisions are data: every refusal at the backchannel authentication endpoint (CIBA Core 1.0 §13) or at
 * the token endpoint for the CIBA grant (§11) is a `CibaError` value; the endpoint edges turn it into the
 * HTTP answer (RFC 6749 §5.2 JSON, `Cache-Control: no-store`) and a metric labelled with `error`.
 */
import { OAuthError } from '../errors.js';

/** Error codes of the backchannel authentication endpoint (CIBA Core 1.0 §13). */
export type AuthenticationErrorCode =
  | 'invalid_request'
  | 'invalid_scope'
  | 'expired_login_hint_token'
  | 'unknown_user_id'
  | 'unauthorized_client'
  | 'missing_user_code'
  | 'invalid_user_code'
  | 'invalid_binding_message'
  | 'invalid_client'
  | 'access_denied'
  | 'slow_down';

/** Error codes of the token endpoint for the CIBA grant (CIBA Core 1.0 §11, RFC 6749 §5.2). */
export type TokenErrorCode =
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'access_denied'
  | 'invalid_grant'
  | 'invalid_request'
  | 'unauthorized_client';

export interface CibaError<Code extends string = AuthenticationErrorCode | TokenErrorCode> {
  status: 400 | 401 | 403 | 429;
  error: Code;
  description: string;
  /** RFC 6585 §4 / RFC 9110 §10.2.3: seconds until a rate-limited client may try again. */
  retryAfterSeconds?: number;
  /** Metric reason when it is more precise than the error code (which limit refused). */
  reason?: string;
}

/** §13: invalid_client is 401, access_denied 403, everything else 400. */
export function authenticationError(
  error: AuthenticationErrorCode,
  description: string,
): CibaError<AuthenticationErrorCode> {
  const status = error === 'invalid_client' ? 401 : error === 'access_denied' ? 403 : 400;
  return { status, error, description };
}

/** §11 and RFC 6749 §5.2: every token endpoint error of the CIBA grant is a 400. */
export function tokenError(error: TokenErrorCode, description: string): CibaError<TokenErrorCode> {
  return { status: 400, error, description };
}

export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const fail = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });

export function oauthErrorOf(e: CibaError): OAuthError {
  // The error code is the metric reason: both come from the closed sets of CIBA §11 and §13.
  return new OAuthError(e.error, e.description, {
    status: e.status,
    reason: e.reason ?? `ciba_${e.error}`,
    ...(e.retryAfterSeconds !== undefined && { headers: { 'Retry-After': String(e.retryAfterSeconds) } }),
  });
}
