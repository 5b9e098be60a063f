/**
 * Every refusal of the issuer is an `OAuthError` value made from a reason of the one table
 * (refusals.ts), which gives the RFC error code the client reads and the HTTP status; the reason labels
 * the metrics and the log line (never user input, so the metrics' cardinality stays bounded). One
 * module (steps/render-error.ts) turns it into the answer, RFC 6749 §5.2 JSON or an error page, so every
 * refusal has the same headers and body. Flows return it as data (`Result`) or throw it.
 */
import { ISSUER_REFUSALS, type IssuerRefusalReason, type RefusalReasonFor } from './refusals.js';

/** RFC 6749 §5.2 codes, plus the ones later grants and endpoints use (RFC 9126, RFC 9101, CIBA §13). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type'
  | 'unsupported_response_type'
  | 'login_required'
  | 'consent_required'
  | 'invalid_request_object'
  | 'invalid_request_uri'
  | 'access_denied'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'unknown_user_id'
  | 'expired_login_hint_token'
  | 'invalid_binding_message'
  | 'invalid_user_code'
  | 'missing_user_code'
  | 'transaction_failed'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'not_found'
  | 'method_not_allowed'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

export interface OAuthErrorOptions {
  /** Set when the client used the Authorization header (RFC 6749 §5.2: 401 + matching challenge). */
  wwwAuthenticate?: string;
  /** Extra response headers (e.g. `Allow` on 405). */
  headers?: Record<string, string>;
}

export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly status: number;
  readonly wwwAuthenticate: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    /** Metric label and log field, from the closed set of refusals.ts. */
    readonly reason: IssuerRefusalReason,
    /** `error_description`: for the client developer; never echoes secrets or whole tokens. */
    readonly description: string,
    options: OAuthErrorOptions = {},
  ) {
    const kind = ISSUER_REFUSALS[reason];
    super(`${kind.error}: ${description}`);
    this.name = 'OAuthError';
    this.error = kind.error;
    this.status = kind.status;
    this.wwwAuthenticate = options.wwwAuthenticate;
    this.headers = options.headers ?? {};
  }
}

/** A refusal as data (for flows that return `Result`s instead of throwing). */
export const refusal = (reason: IssuerRefusalReason, description: string): OAuthError =>
  new OAuthError(reason, description);

export type Result<T, E = OAuthError> = { ok: true; value: T } | { ok: false; error: E };
export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const fail = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });

export const invalidRequest = (
  description: string,
  reason: RefusalReasonFor<'invalid_request'> = 'invalid_request',
) => new OAuthError(reason, description);

export const invalidClient = (
  description: string,
  reason: RefusalReasonFor<'invalid_client'>,
  usedAuthorizationHeader = false,
) =>
  new OAuthError(
    reason,
    description,
    // RFC 6749 §5.2: the challenge must match the scheme the client tried.
    usedAuthorizationHeader ? { wwwAuthenticate: 'Basic realm="fapi-issuer"' } : {},
  );

export const invalidGrant = (description: string, reason: RefusalReasonFor<'invalid_grant'>) =>
  new OAuthError(reason, description);

/**
 * The issuer's storage (Redis) cannot answer: 503 `temporarily_unavailable` (RFC 6749 §5.2) at the
 * token endpoint and the other JSON endpoints, a plain error page on the browser pages. The operation
 * did not complete, and single-use values (codes, request_uris, assertion `jti`s) were not spent.
 */
export class StoreUnavailableError extends OAuthError {
  constructor(
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super('store_unavailable', 'the authorization server is temporarily unavailable; retry shortly', {
      // RFC 9110 §10.2.3: reconnection is attempted within a second or two.
      headers: { 'Retry-After': '2' },
    });
    this.name = 'StoreUnavailableError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
