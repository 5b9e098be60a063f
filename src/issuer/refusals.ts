/**
 * Every way the issuer refuses a request: a closed set of reasons (the `reason` label of
 * `fapi_issuer_refusals_total` and `fapi_issuer_failures_total`, the log field and the table in
 * docs/metrics.md), each with its RFC 6749 §5.2 error code (or the code of the RFC that adds it) and HTTP
 * status. A refusal is an `OAuthError` value made from a reason (errors.ts); steps/render-error.ts turns
 * it into RFC 6749 §5.2 JSON or an error page.
 */
import type { OAuthErrorCode } from './errors.js';

export interface RefusalKind {
  error: OAuthErrorCode;
  status: number;
  /** What docs/metrics.md says about the reason (generated from this table). */
  meaning: string;
}

const invalidClient = (meaning: string) => ({ error: 'invalid_client', status: 401, meaning }) as const;
const invalidGrant = (meaning: string) => ({ error: 'invalid_grant', status: 400, meaning }) as const;
const invalidRequest = (meaning: string) => ({ error: 'invalid_request', status: 400, meaning }) as const;
const invalidDpopProof = (meaning: string) =>
  ({ error: 'invalid_dpop_proof', status: 400, meaning }) as const;

/** Authorization endpoint errors (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 9101 §6.3, RFC 9126 §2.3). */
const authorization = <E extends OAuthErrorCode>(error: E, meaning: string) =>
  ({ error, status: 400, meaning }) as const;

/** CIBA Core §13 (backchannel authentication endpoint) and §11 (token endpoint, CIBA grant). */
const ciba = <E extends OAuthErrorCode>(error: E, meaning: string, status = 400) =>
  ({ error, status, meaning }) as const;

export const ISSUER_REFUSALS = {
  // The HTTP edge.
  not_found: { error: 'not_found', status: 404, meaning: 'no endpoint at this path' },
  method_not_allowed: {
    error: 'method_not_allowed',
    status: 405,
    meaning: 'the endpoint exists but not for this method (Allow lists the methods)',
  },
  internal_error: {
    error: 'server_error',
    status: 500,
    meaning: 'an unexpected error (logged with its stack)',
  },
  // What the HTTP parser refuses before a request exists (answered, then the connection closed).
  malformed_request: invalidRequest(
    'not parseable as HTTP/1.1, or more than one Host header (RFC 9112 §3.2)',
  ),
  headers_too_large: {
    error: 'invalid_request',
    status: 431,
    meaning: 'request headers larger than the HTTP parser allows (16 KiB)',
  },
  request_timeout: {
    error: 'invalid_request',
    status: 408,
    meaning: 'headers not complete within 10 s, or the whole request within 30 s (slow clients)',
  },
  store_unavailable: {
    error: 'temporarily_unavailable',
    status: 503,
    meaning: 'the storage (Redis) cannot answer; nothing single-use was spent (Retry-After: 2)',
  },
  // Request bodies and parameters (RFC 6749 §3.2, §3.1).
  body_too_large: { error: 'invalid_request', status: 413, meaning: 'the form body exceeds the limit' },
  body_timeout: invalidRequest('the form body did not arrive in time'),
  unsupported_content_type: invalidRequest('the body is not application/x-www-form-urlencoded'),
  invalid_encoding: invalidRequest('the form body is not valid UTF-8 / percent-encoding'),
  repeated_parameter: invalidRequest('a parameter appears more than once (RFC 6749 §3.1)'),
  missing_parameter: invalidRequest('a required parameter is missing'),
  invalid_request: invalidRequest('the request is malformed'),
  // Client authentication (RFC 6749 §2.3, RFC 7523, RFC 8705).
  multiple_auth_methods: invalidRequest('more than one client authentication method (RFC 6749 §2.3)'),
  no_client_authentication: invalidClient('no client authentication at all'),
  unknown_client: invalidClient('no registered client has this client_id'),
  auth_method_mismatch: invalidClient('not the authentication method the client registered'),
  client_secret_basic_refused: invalidClient('client_secret_basic: not allowed under the FAPI profiles'),
  client_secret_post_refused: invalidClient('client_secret_post: not allowed under the FAPI profiles'),
  unsupported_auth_scheme: invalidClient('an Authorization header of another scheme'),
  client_id_mismatch: invalidClient('client_id differs from the assertion or certificate client'),
  assertion_type_unsupported: invalidClient('client_assertion_type is not jwt-bearer'),
  assertion_type: invalidClient('the assertion typ is not one a client assertion may carry'),
  assertion_malformed: invalidClient('client_assertion is not a compact JWS'),
  assertion_claims: invalidClient('iss, sub, jti or exp missing or wrong (RFC 7523 §3)'),
  assertion_audience: invalidClient('aud is not a single accepted audience'),
  assertion_lifetime: invalidClient('exp too far ahead, or iat/nbf in the future'),
  assertion_expired: invalidClient('exp is in the past'),
  assertion_replayed: invalidClient('the assertion jti was already used'),
  assertion_algorithm: invalidClient('the assertion alg is not allowed for this client'),
  assertion_key_unknown: invalidClient('no registered key matches the assertion kid/alg'),
  assertion_signature: invalidClient('the assertion signature does not verify'),
  assertion_weak_key: invalidClient('the key that signed the assertion is too weak for FAPI'),
  client_keys_missing: invalidClient('the client has no registered keys'),
  client_jwks_unavailable: invalidClient("the client's jwksUri cannot be fetched"),
  certificate_missing: invalidClient('no client certificate on the connection'),
  certificate_untrusted: invalidClient('the certificate does not chain to tls.clientCa'),
  certificate_mismatch: invalidClient("the certificate is not the client's (subject/SAN or JWK Set)"),
  // Token endpoint (RFC 6749 §5.2).
  unsupported_grant_type: {
    error: 'unsupported_grant_type',
    status: 400,
    meaning: 'the grant_type is not supported',
  },
  grant_type_not_registered: {
    error: 'unauthorized_client',
    status: 400,
    meaning: 'the client is not registered for this grant_type',
  },
  certificate_required: invalidRequest(
    'neither a client certificate nor a DPoP proof: FAPI tokens are sender-constrained',
  ),
  sender_constraint_missing: invalidRequest(
    'the client must bind its tokens (certificate or DPoP proof) and sent neither',
  ),
  dpop_proof_missing: invalidDpopProof('the client is registered for DPoP-bound tokens and sent no proof'),
  scope_malformed: { error: 'invalid_scope', status: 400, meaning: 'scope is not space-separated tokens' },
  scope_not_allowed: {
    error: 'invalid_scope',
    status: 400,
    meaning: 'a scope not registered for the client',
  },
  scope_missing: { error: 'invalid_scope', status: 400, meaning: 'no scope requested and none registered' },
  scope_not_granted: {
    error: 'invalid_scope',
    status: 400,
    meaning: 'a refresh asks for more than the grant',
  },
  code_invalid: invalidGrant('the authorization code is unknown or expired'),
  code_reused: invalidGrant('the code was already redeemed: its tokens are revoked (RFC 6749 §4.1.2)'),
  code_client_mismatch: invalidGrant('the code was issued to another client'),
  code_expired: invalidGrant('the code has expired'),
  redirect_uri_mismatch: invalidGrant('redirect_uri differs from the authorization request'),
  pkce_mismatch: invalidGrant('code_verifier does not match the code_challenge (RFC 7636)'),
  dpop_jkt_mismatch: invalidGrant('the code is bound to another DPoP key (dpop_jkt, RFC 9449 §10)'),
  dpop_key_mismatch: invalidGrant("the refresh token's grant is bound to another DPoP key"),
  refresh_token_invalid: invalidGrant('the refresh token is unknown, expired or revoked'),
  refresh_token_client_mismatch: invalidGrant('the refresh token was issued to another client'),
  refresh_token_reused: invalidGrant('a rotated refresh token was presented: the family is revoked'),
  // DPoP proofs at the token and PAR endpoints (RFC 9449 §4.3, §8, §11.1).
  dpop_proof_multiple: invalidDpopProof('more than one DPoP header'),
  dpop_proof_malformed: invalidDpopProof('not a compact JWS or not JSON'),
  dpop_proof_type: invalidDpopProof('typ is not dpop+jwt'),
  dpop_proof_algorithm: invalidDpopProof('alg is not in dpop.algorithms'),
  dpop_proof_key: invalidDpopProof('jwk missing, private or unusable'),
  dpop_proof_signature: invalidDpopProof('the signature does not verify with jwk'),
  dpop_proof_claims: invalidDpopProof('jti, htm, htu or iat missing or of the wrong type'),
  dpop_proof_method: invalidDpopProof("htm is not the request's method"),
  dpop_proof_uri: invalidDpopProof("htu is not the request's URI"),
  dpop_proof_iat: invalidDpopProof('iat outside dpop.iatWindowSeconds'),
  dpop_proof_ath: invalidDpopProof('ath missing or not the access token hash'),
  dpop_replay: invalidDpopProof('the proof jti was already used'),
  dpop_binding: invalidDpopProof('the proof key is not the bound key'),
  dpop_nonce: {
    error: 'use_dpop_nonce',
    status: 400,
    meaning: 'nonce missing or stale (DPoP-Nonce has a fresh one)',
  },
  dpop_replay_store: {
    error: 'temporarily_unavailable',
    status: 503,
    meaning: 'the DPoP replay store cannot answer (fail closed)',
  },
  par_dpop_jkt_mismatch: invalidDpopProof('PAR: dpop_jkt is not the key of the DPoP proof (RFC 9449 §10.1)'),
  // Authorization requests (PAR and the authorization endpoint): the error code is the reason.
  authorization_invalid_request: authorization('invalid_request', 'the authorization request is malformed'),
  authorization_invalid_request_object: authorization(
    'invalid_request_object',
    'the request object is unsigned, unverifiable or its claims are wrong (RFC 9101)',
  ),
  authorization_invalid_request_uri: authorization(
    'invalid_request_uri',
    'request_uri unknown, expired, used or of another client (RFC 9126)',
  ),
  authorization_unauthorized_client: authorization(
    'unauthorized_client',
    'the client may not use this flow or response type',
  ),
  authorization_access_denied: authorization('access_denied', 'the user denied consent'),
  authorization_unsupported_response_type: authorization(
    'unsupported_response_type',
    'response_type not allowed for the client or profile',
  ),
  authorization_invalid_scope: authorization('invalid_scope', 'a scope not registered for the client'),
  authorization_login_required: authorization('login_required', 'prompt=none and the user is not signed in'),
  authorization_consent_required: authorization('consent_required', 'prompt=none and consent is missing'),
  // Guessing (users/sign-in-limits.ts): the secret is not checked while a limit waits.
  sign_in_failed: {
    error: 'access_denied',
    status: 401,
    meaning:
      'the CIBA device page: the username or password is not correct (the login page of the code flow counts login_failed in fapi_issuer_authorization_outcomes_total)',
  },
  sign_in_limited: {
    error: 'temporarily_unavailable',
    status: 429,
    meaning: 'a sign-in page: too many failed passwords for the user or from the source (Retry-After)',
  },
  // CIBA: the error code is the reason.
  ciba_invalid_request: ciba('invalid_request', 'the backchannel authentication request is malformed'),
  ciba_invalid_scope: ciba('invalid_scope', 'a scope not registered for the client'),
  ciba_expired_login_hint_token: ciba('expired_login_hint_token', 'login_hint_token has expired'),
  ciba_unknown_user_id: ciba('unknown_user_id', 'the hint names no known user'),
  ciba_unauthorized_client: ciba('unauthorized_client', 'the client is not registered for CIBA'),
  ciba_missing_user_code: ciba('missing_user_code', 'user_code required for this user'),
  ciba_invalid_user_code: ciba('invalid_user_code', 'user_code is not correct'),
  ciba_user_code_limited: ciba(
    'access_denied',
    'too many wrong user_codes for the user or from the client: not checked (Retry-After)',
    403,
  ),
  ciba_client_rate: ciba(
    'slow_down',
    'the client sent more requests a minute than allowed (Retry-After)',
    429,
  ),
  ciba_user_pending: ciba('access_denied', 'the user has too many pending requests', 403),
  ciba_client_pending: ciba('access_denied', 'the client has too many pending requests', 403),
  ciba_invalid_binding_message: ciba('invalid_binding_message', 'binding_message missing or unusable'),
  ciba_authorization_pending: ciba('authorization_pending', 'the user has not decided yet (poll again)'),
  ciba_slow_down: ciba('slow_down', 'polled faster than the interval (the interval grows by 5 s)'),
  ciba_expired_token: ciba('expired_token', 'auth_req_id has expired'),
  ciba_access_denied: ciba('access_denied', 'the user denied the request'),
  ciba_invalid_grant: ciba('invalid_grant', 'auth_req_id unknown, of another client, or redeemed'),
  // Browser forms (sign-in, consent, CIBA device page): answered with a page that says to start again.
  form_cross_origin: {
    error: 'invalid_request',
    status: 403,
    meaning: 'a form post whose Origin/Referer is not the issuer (cross-site request)',
  },
  form_session_missing: invalidRequest('a form post without a known browser session cookie'),
  form_csrf_invalid: {
    error: 'invalid_request',
    status: 403,
    meaning: "a form post whose CSRF token is not the session's",
  },
  interaction_unavailable: invalidRequest(
    'the sign-in request expired, was completed, or belongs to another browser session',
  ),
  form_incomplete: invalidRequest(
    'a form post without a decision, a decision without a sign-in, or a sign-in without username or password',
  ),
  // UserInfo (OIDC Core §5.3): RFC 6750 §3.1 errors with a challenge in the scheme the client used.
  userinfo_token_in_query: invalidRequest(
    'UserInfo: the access token came in the query or body, not the header',
  ),
  userinfo_token_missing: {
    error: 'invalid_token',
    status: 401,
    meaning: 'UserInfo: no access token (the challenge carries no error code, RFC 6750 §3.1)',
  },
  userinfo_authorization_malformed: {
    error: 'invalid_token',
    status: 401,
    meaning: 'UserInfo: the Authorization header is not a Bearer or DPoP token',
  },
  userinfo_token_inactive: {
    error: 'invalid_token',
    status: 401,
    meaning: 'UserInfo: the access token is not ours, expired or revoked',
  },
  userinfo_token_binding: {
    error: 'invalid_token',
    status: 401,
    meaning:
      'UserInfo: the token is unbound, bound to another certificate or key, or DPoP-bound and sent as Bearer',
  },
  userinfo_insufficient_scope: {
    error: 'insufficient_scope',
    status: 403,
    meaning: 'UserInfo: the access token lacks the openid scope',
  },
} as const satisfies Record<string, RefusalKind>;

export type IssuerRefusalReason = keyof typeof ISSUER_REFUSALS;

/** The reasons whose error code is `E`: a refusal's code always comes from its reason. */
export type RefusalReasonFor<E extends OAuthErrorCode> = {
  [R in IssuerRefusalReason]: (typeof ISSUER_REFUSALS)[R]['error'] extends E ? R : never;
}[IssuerRefusalReason];

export const ISSUER_REFUSAL_REASONS = Object.keys(ISSUER_REFUSALS) as IssuerRefusalReason[];
