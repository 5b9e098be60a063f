/**
 * client_secret_jwt (RFC 7523 §2.2, OIDC Core §9): an assertion MACed with the client secret, HS256
 * only (and only here: asymmetric methods never accept HMAC, RFC 8725 §3.1). The secret's strength
 * (>= 256 bits) is checked at start-up; jose compares the MAC in constant time.
 */
import { verifyClientAssertion } from './jwt-assertion.js';
import type { ClientAuthenticator } from './method.js';

export const clientSecretJwt: ClientAuthenticator = {
  method: 'client_secret_jwt',
  async verify(input, runtime) {
    const secret = new TextEncoder().encode(input.client.clientSecret ?? '');
    await verifyClientAssertion(input, runtime, { secret }, ['HS256']);
  },
};
