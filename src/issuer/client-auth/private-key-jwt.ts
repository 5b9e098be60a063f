/** private_key_jwt (RFC 7523 §2.2, OIDC Core §9): an assertion signed with one of the client's keys. */
import { invalidClient } from '../errors.js';
import { verifyClientAssertion } from './jwt-assertion.js';
import type { ClientAuthenticator } from './method.js';
import { SIGNING_ALGORITHMS } from '../config.js';

export const privateKeyJwt: ClientAuthenticator = {
  method: 'private_key_jwt',
  async verify(input, runtime) {
    const keys = runtime.clientKeys.get(input.client.clientId);
    if (!keys) throw invalidClient('the client has no registered keys', 'client_keys_missing');
    const algorithms = input.client.tokenEndpointAuthSigningAlg
      ? [input.client.tokenEndpointAuthSigningAlg]
      : [...SIGNING_ALGORITHMS];
    await verifyClientAssertion(input, runtime, { keys }, algorithms);
  },
};
