/**
 * What the authorization code flow adds to the discovery document (RFC 8414 §2, OIDC Discovery §3,
 * RFC 9126 §5, RFC 9101 §10.5, JARM §3, RFC 9207 §3).
 */
import { RESPONSE_MODES, SIGNING_ALGORITHMS } from '../config.js';
import type { IssuerRuntime } from '../runtime.js';
import { PROMPT_VALUES } from './authorization-request.js';
import { clientProfile } from './client-policy.js';

export function authorizationDiscovery(runtime: IssuerRuntime): Record<string, unknown> {
  const { config, keys } = runtime;
  const profiles = new Set([config.profile, ...config.clients.map((c) => clientProfile(c, config.profile))]);
  const signingAlgs = [...new Set(keys.all.map((k) => k.alg))];
  const acrs = [...new Set(config.users.flatMap((u) => (u.acr !== undefined ? [u.acr] : [])))];
  const userClaims = [...new Set(config.users.flatMap((u) => Object.keys(u.claims)))];
  return {
    response_types_supported: profiles.has('fapi1-advanced') ? ['code', 'code id_token'] : ['code'],
    response_modes_supported: [...RESPONSE_MODES],
    require_pushed_authorization_requests: config.profile === 'fapi2-security',
    code_challenge_methods_supported: ['S256'],
    // Every authorization request is a signed request object sent as `request` (at PAR, or by value
    // where a FAPI 1 Advanced client does not use PAR).
    request_parameter_supported: true,
    request_uri_parameter_supported: false,
    require_signed_request_object: true,
    request_object_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
    authorization_signing_alg_values_supported: signingAlgs,
    id_token_signing_alg_values_supported: signingAlgs,
    authorization_response_iss_parameter_supported: true,
    claims_parameter_supported: true,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', ...userClaims],
    ...(acrs.length > 0 ? { acr_values_supported: acrs } : {}),
    prompt_values_supported: [...PROMPT_VALUES],
    subject_types_supported: ['public'],
  };
}
