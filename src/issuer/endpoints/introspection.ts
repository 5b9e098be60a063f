/**
 * Token introspection (RFC 7662) for authenticated clients only (§2.1: an open endpoint is a
 * token-scanning oracle; unauthenticated calls are 401 invalid_client). Who learns what is decided in
 * tokens/introspection-answer.ts (`introspection: true` resource servers: everything; other clients:
 * their own tokens). Anything invalid, expired, revoked, unknown or not theirs is `{"active": false}`
 * and nothing more (§2.2). With `Accept: application/token-introspection+jwt` the answer is a signed
 * JWT (RFC 9701, tokens/introspection-jwt.ts).
 */
import { NO_STORE, jsonReply } from '../http.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { readForm } from '../steps/form-body.js';
import { introspectionAnswer } from '../tokens/introspection-answer.js';
import {
  INTROSPECTION_JWT_MEDIA_TYPE,
  signIntrospectionResponse,
  wantsIntrospectionJwt,
} from '../tokens/introspection-jwt.js';
import { clientAuthDiscovery } from './client-auth-discovery.js';
import type { Endpoint } from './endpoint.js';

export const introspectionEndpoint: Endpoint = {
  name: 'introspection',
  path: '/introspect',
  methods: ['POST'],
  metadataName: 'introspection_endpoint',
  mtlsAlias: true,
  discovery: (runtime) => ({
    ...clientAuthDiscovery('introspection_endpoint'),
    // RFC 9701 §7: the algorithm of the key that signs JWT responses.
    introspection_signing_alg_values_supported: [runtime.keys.active.alg],
  }),
  async respond(request, runtime) {
    const params = await readForm(request);
    const caller = await authenticateClient(request, params, runtime);
    const token = params.required('token');
    const body = await introspectionAnswer(token, params.get('token_type_hint'), caller.client, runtime);
    runtime.metrics.introspections.inc({ active: String(body.active) });
    if (!wantsIntrospectionJwt(request.headers.accept)) return jsonReply(body);
    return {
      status: 200,
      headers: { ...NO_STORE, 'Content-Type': INTROSPECTION_JWT_MEDIA_TYPE },
      body: await signIntrospectionResponse(body, caller.client.clientId, runtime),
    };
  },
};
