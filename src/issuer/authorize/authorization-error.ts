/**
 * Authorization endpoint errors as values (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 9101 §6.3,
 * RFC 9126 §2.3). A refusal says what went wrong; the caller decides where it goes: back to the client
 * (only once the redirect_uri is known to be registered), to the error page, or to a PAR JSON answer.
 */
import { OAuthError } from '../errors.js';

export type AuthorizationErrorCode =
  | 'invalid_request'
  | 'invalid_request_object'
  | 'invalid_request_uri'
  | 'unauthorized_client'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'login_required'
  | 'consent_required';

/** An authorization refusal: an OAuthError whose reason is `authorization_` and the error code. */
export type AuthorizationRefusal = OAuthError & { readonly error: AuthorizationErrorCode };

export type Checked<T> = { ok: true; value: T } | { ok: false; refusal: AuthorizationRefusal };

export function authorizationRefusal(
  error: AuthorizationErrorCode,
  description: string,
): AuthorizationRefusal {
  return new OAuthError(`authorization_${error}`, description) as AuthorizationRefusal;
}

export function refuse(
  error: AuthorizationErrorCode,
  description: string,
): { ok: false; refusal: AuthorizationRefusal } {
  return { ok: false, refusal: authorizationRefusal(error, description) };
}

export function accept<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}
