/**
 * Every refusal of the issuer is an `OAuthError` value: the RFC error code the client reads, the HTTP
 * status, and a `reason` from a closed set that labels the failure metric and the log line (never user
 * input, so the metric's cardinality stays bounded). One function (steps/render-error.ts) turns it into
 * the HTTP answer, so every refusal has the same headers and body.
 */

/** RFC 6749 §5.2 codes, plus the ones later grants and endpoints use (RFC 9126, RFC 9101, CIBA §13). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type'
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
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

export interface OAuthErrorOptions {
  status?: number;
  /** Metric label and log field; a short snake_case word from a closed set, never request data. */
  reason: string;
  /** Set when the client used the Authorization header (RFC 6749 §5.2: 401 + matching challenge). */
  wwwAuthenticate?: string;
  /** Extra response headers (e.g. `Allow` on 405). */
  headers?: Record<string, string>;
}

const DEFAULT_STATUS: Partial<Record<OAuthErrorCode, number>> = {
  invalid_client: 401,
  invalid_token: 401,
  access_denied: 403,
  not_found: 404,
  method_not_allowed: 405,
  server_error: 500,
  temporarily_unavailable: 503,
};

export class OAuthError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly wwwAuthenticate: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    readonly error: OAuthErrorCode,
    /** `error_description`: for the client developer; never echoes secrets or whole tokens. */
    readonly description: string,
    options: OAuthErrorOptions,
  ) {
    super(`${error}: ${description}`);
    this.name = 'OAuthError';
    this.status = options.status ?? DEFAULT_STATUS[error] ?? 400;
    this.reason = options.reason;
    this.wwwAuthenticate = options.wwwAuthenticate;
    this.headers = options.headers ?? {};
  }
}

export const invalidRequest = (description: string, reason = 'invalid_request') =>
  new OAuthError('invalid_request', description, { reason });

export const invalidClient = (description: string, reason: string, usedAuthorizationHeader = false) =>
  new OAuthError('invalid_client', description, {
    reason,
    status: 401,
    // RFC 6749 §5.2: the challenge must match the scheme the client tried.
    ...(usedAuthorizationHeader ? { wwwAuthenticate: 'Basic realm="fapi-issuer"' } : {}),
  });

export const invalidGrant = (description: string, reason = 'invalid_grant') =>
  new OAuthError('invalid_grant', description, { reason });

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
    super('temporarily_unavailable', 'the authorization server is temporarily unavailable; retry shortly', {
      reason: 'store_unavailable',
      status: 503,
      // RFC 9110 §10.2.3: reconnection is attempted within a second or two.
      headers: { 'Retry-After': '2' },
    });
    this.name = 'StoreUnavailableError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
