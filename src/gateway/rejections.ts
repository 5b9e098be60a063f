/**
 * Every way the gateway refuses a request: a closed set of reasons (the `reason` label of
 * `fapi_gateway_rejections_total`, the log field and the table in docs/metrics.md), each with its HTTP status and
 * RFC 6750 §3.1 error code. A check returns a Reject value; `renderReject` turns it into the answer.
 */

export interface RejectionKind {
  status: number;
  /** RFC 6750 §3.1 / RFC 6749 error code; absent when the request carried no credentials (RFC 6750 §3.1). */
  error?: string;
  /** What docs/metrics.md says about the reason (generated from this table). */
  meaning: string;
}

export const REJECTION_REASONS = {
  route_not_found: { status: 404, error: 'not_found', meaning: 'no configured route matches the path' },
  method_not_allowed: {
    status: 405,
    error: 'method_not_allowed',
    meaning: 'the route exists but not for this method (Allow header lists the methods)',
  },
  invalid_path: {
    status: 400,
    error: 'invalid_request',
    meaning:
      'encoded separators or dot segments (%2F, %2E, %5C), .. above the root, or a non-origin-form target',
  },
  malformed_request: {
    status: 400,
    error: 'invalid_request',
    meaning: 'not parseable as HTTP/1.1 (answered by the gateway, connection closed)',
  },
  headers_too_large: {
    status: 431,
    error: 'invalid_request',
    meaning: 'request headers larger than the HTTP parser allows (16 KiB)',
  },
  request_timeout: {
    status: 408,
    error: 'invalid_request',
    meaning: 'headers not complete within 10 s, or the request within 60 s (slow clients)',
  },
  invalid_interaction_id: {
    status: 400,
    error: 'invalid_request',
    meaning: 'x-fapi-interaction-id is not a UUID',
  },
  invalid_auth_date: {
    status: 400,
    error: 'invalid_request',
    meaning: 'x-fapi-auth-date is not an RFC 7231 IMF-fixdate',
  },
  invalid_customer_ip: {
    status: 400,
    error: 'invalid_request',
    meaning: 'x-fapi-customer-ip-address is not an IPv4/IPv6 address',
  },
  token_missing: {
    status: 401,
    meaning: 'no Authorization: Bearer credentials (RFC 6750 §3.1: no error code)',
  },
  token_in_query: {
    status: 400,
    error: 'invalid_request',
    meaning: 'access_token in the query string (FAPI forbids RFC 6750 §2.3)',
  },
  token_in_body: {
    status: 400,
    error: 'invalid_request',
    meaning: 'access_token in a form body (FAPI forbids RFC 6750 §2.2)',
  },
  multiple_tokens: {
    status: 400,
    error: 'invalid_request',
    meaning: 'more than one token or Authorization header (RFC 6750 §2)',
  },
  token_malformed: { status: 401, error: 'invalid_token', meaning: 'not a compact JWS access token' },
  token_type: { status: 401, error: 'invalid_token', meaning: 'typ is not at+jwt (RFC 9068 §2.1)' },
  token_algorithm: {
    status: 401,
    error: 'invalid_token',
    meaning: 'alg not in tokens.algorithms (none and HMAC never are)',
  },
  token_key_unknown: {
    status: 401,
    error: 'invalid_token',
    meaning: 'no key in the JWKS matches the kid (after one refetch per cooldown)',
  },
  token_signature: { status: 401, error: 'invalid_token', meaning: 'the signature does not verify' },
  token_expired: { status: 401, error: 'invalid_token', meaning: 'exp is in the past (beyond the skew)' },
  token_not_yet_valid: {
    status: 401,
    error: 'invalid_token',
    meaning: 'nbf or iat is in the future (beyond the skew)',
  },
  token_issuer: { status: 401, error: 'invalid_token', meaning: 'iss is not tokens.issuer' },
  token_audience: { status: 401, error: 'invalid_token', meaning: 'aud contains none of tokens.audience' },
  token_claims: {
    status: 401,
    error: 'invalid_token',
    meaning:
      'a required claim (exp, client_id, sub) is missing or has the wrong type, or a forwarded claim cannot be a header value as it is (not printable ASCII; client_id or sub with a leading or trailing space)',
  },
  binding_missing: {
    status: 401,
    error: 'invalid_token',
    meaning: 'the token has no cnf."x5t#S256" (RFC 8705 §3.1)',
  },
  certificate_missing: {
    status: 401,
    error: 'invalid_token',
    meaning: 'the token is bound to a client certificate and the request presented none',
  },
  binding_mismatch: {
    status: 401,
    error: 'invalid_token',
    meaning: 'cnf."x5t#S256" is not this connection\'s certificate: possible token theft',
  },
  proxy_certificate_malformed: {
    status: 400,
    error: 'invalid_request',
    meaning:
      'a trusted proxy sent a Client-Cert header that is not one RFC 9440 byte sequence holding a DER certificate, a Client-Cert-Chain that is not a list of them, or a Client-Cert-Chain without Client-Cert',
  },
  proxy_certificate_untrusted: {
    status: 401,
    error: 'invalid_token',
    meaning:
      "a trusted proxy's Client-Cert does not chain to tls.clientCa, alone or through its Client-Cert-Chain (or its extendedKeyUsage excludes clientAuth)",
  },
  proxy_certificate_expired: {
    status: 401,
    error: 'invalid_token',
    meaning: "a trusted proxy's Client-Cert (or a CA above it) is outside its validity period",
  },
  proxy_certificate_not_allowed: {
    status: 401,
    error: 'invalid_token',
    meaning:
      "a trusted proxy's Client-Cert breaks a FAPI certificate rule: weak key (its own or a CA's of its path), CA:TRUE, larger than limits.clientCertificateBytes, or more than 8 certificates in Client-Cert-Chain",
  },
  insufficient_scope: {
    status: 403,
    error: 'insufficient_scope',
    meaning: 'the token lacks a scope the route requires (challenge carries scope=)',
  },
  ambiguous_request: {
    status: 400,
    error: 'invalid_request',
    meaning: 'a header that must appear once (Content-Type, Host) appears more than once (RFC 9110 §5.3)',
  },
  host_missing: {
    status: 400,
    error: 'invalid_request',
    meaning: 'an HTTP/1.1 request without a Host header (RFC 9112 §3.2)',
  },
  connect_not_supported: {
    status: 400,
    error: 'invalid_request',
    meaning: 'a CONNECT request: the gateway is not a tunnel (answered, connection closed)',
  },
  unsupported_transfer_coding: {
    status: 501,
    error: 'invalid_request',
    meaning:
      'a Transfer-Encoding other than chunked alone (RFC 9112 §6.1): it would not reach the upstream intact',
  },
  unsupported_body: {
    status: 415,
    error: 'invalid_request',
    meaning:
      'a form body with a Content-Encoding or a charset other than UTF-8: it cannot be inspected as the upstream reads it',
  },
  body_buffer_full: {
    status: 503,
    error: 'temporarily_unavailable',
    meaning:
      'form bodies being read by this process exceed limits.bufferedBodyBytes (memory before authentication)',
  },
  route_concurrency_limit: {
    status: 503,
    error: 'temporarily_unavailable',
    meaning:
      'the route already has routes[].maxConcurrent requests with the upstream in this process (answered at once, never forwarded)',
  },
  body_too_large: {
    status: 413,
    error: 'invalid_request',
    meaning: 'a form body larger than limits.formBodyBytes (it must be inspected for access_token)',
  },
  internal_error: {
    status: 500,
    error: 'server_error',
    meaning: 'an unexpected failure inside the gateway (logged; the request is not forwarded)',
  },
  jwks_unavailable: {
    status: 503,
    error: 'temporarily_unavailable',
    meaning: 'no signing keys could ever be loaded from tokens.jwksUri (fail closed)',
  },
  token_inactive: {
    status: 401,
    error: 'invalid_token',
    meaning: 'the introspection endpoint answered active: false (unknown, expired or revoked token)',
  },
  introspection_unavailable: {
    status: 503,
    error: 'temporarily_unavailable',
    meaning:
      'the introspection endpoint failed (timeout, connection error, HTTP error, not JSON, no boolean active): fail closed',
  },
  dpop_proof_missing: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: 'a DPoP-bound token presented without a DPoP header (RFC 9449 §7.1)',
  },
  dpop_proof_multiple: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: 'more than one DPoP header (RFC 9449 §4.3 (1))',
  },
  dpop_proof_malformed: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: 'the DPoP proof is not a compact JWS with JSON header and payload',
  },
  dpop_proof_type: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's typ is not dpop+jwt (RFC 9449 §4.2)",
  },
  dpop_proof_algorithm: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's alg is not in dpop.algorithms (none and HMAC never are)",
  },
  dpop_proof_key: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's jwk is missing, private, unusable or of a type that does not match alg",
  },
  dpop_proof_signature: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's signature does not verify with its jwk",
  },
  dpop_proof_claims: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: 'the proof lacks jti, htm, htu or iat (or one has the wrong type)',
  },
  dpop_proof_method: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's htm is not the request method (case-sensitive)",
  },
  dpop_proof_uri: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's htu is not https:// + Host (or a dpop.publicOrigins entry) + the path",
  },
  dpop_proof_iat: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's iat is further than dpop.iatWindowSeconds from now",
  },
  dpop_proof_ath: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's ath is missing or not the hash of the presented token",
  },
  dpop_proof_replay: {
    status: 401,
    error: 'invalid_dpop_proof',
    meaning: "the proof's jti was already used within the iat window",
  },
  dpop_nonce: {
    status: 401,
    error: 'use_dpop_nonce',
    meaning: 'nonces are required and the proof has none or a stale one (answer carries DPoP-Nonce)',
  },
  dpop_binding_mismatch: {
    status: 401,
    error: 'invalid_token',
    meaning: "the token's cnf.jkt is not the thumbprint of the proof's key: possible token theft",
  },
  dpop_replay_store_unavailable: {
    status: 503,
    error: 'temporarily_unavailable',
    meaning: 'the DPoP replay store cannot answer (full of live entries, or unreachable): fail closed',
  },
} as const satisfies Record<string, RejectionKind>;

export type RejectionReason = keyof typeof REJECTION_REASONS;

/** A check's refusal: what `renderReject` answers, logs and counts. */
export interface Reject {
  reason: RejectionReason;
  status: number;
  error: string | undefined;
  /** Safe to show: never contains the token or other request input. */
  description: string;
  /** RFC 6750 §3: the scope needed, on insufficient_scope. */
  scope?: string;
  /** RFC 9110 §15.5.6: methods the route allows, on 405. */
  allow?: readonly string[];
}

export function reject(
  reason: RejectionReason,
  description: string,
  extra?: { scope?: string; allow?: readonly string[] },
): Reject {
  const kind: RejectionKind = REJECTION_REASONS[reason];
  return { reason, status: kind.status, error: kind.error, description, ...extra };
}

export const ALL_REJECTION_REASONS = Object.keys(REJECTION_REASONS) as RejectionReason[];
