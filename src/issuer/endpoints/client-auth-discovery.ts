/** Discovery fields of a client-authenticated endpoint (RFC 8414 §2), e.g. `token_endpoint_auth_...`. */
import { clientAuthenticators } from '../client-auth/index.js';
import { SIGNING_ALGORITHMS } from '../config.js';

export function clientAuthDiscovery(prefix: string): Record<string, unknown> {
  return {
    [`${prefix}_auth_methods_supported`]: [...clientAuthenticators.keys()],
    [`${prefix}_auth_signing_alg_values_supported`]: [...SIGNING_ALGORITHMS, 'HS256'],
  };
}
