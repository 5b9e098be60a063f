/**
 * The token endpoint (RFC 6749 §3.2): form body, client authentication, then the grant module for
 * `grant_type` (grants/index.ts). The client is authenticated before the grant type is looked at, so an
 * unauthenticated caller learns nothing about what the server supports.
 */
import { OAuthError, invalidRequest } from '../errors.js';
import { jsonReply } from '../http.js';
import { findGrant, grants } from '../grants/index.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { readForm } from '../steps/form-body.js';
import { clientAuthDiscovery } from './client-auth-discovery.js';
import type { Endpoint } from './endpoint.js';

export const tokenEndpoint: Endpoint = {
  name: 'token',
  path: '/token',
  methods: ['POST'],
  metadataName: 'token_endpoint',
  mtlsAlias: true,
  discovery: () => ({
    grant_types_supported: grants.map((g) => g.grantType),
    ...clientAuthDiscovery('token_endpoint'),
  }),
  async respond(request, runtime) {
    const params = await readForm(request);
    const client = await authenticateClient(request, params, runtime);
    const grantType = params.get('grant_type');
    if (grantType === undefined) throw invalidRequest('missing parameter "grant_type"', 'missing_parameter');
    const grant = findGrant(grantType);
    if (!grant)
      throw new OAuthError('unsupported_grant_type', 'this grant_type is not supported', {
        reason: 'unsupported_grant_type',
      });
    if (!(client.client.grantTypes as readonly string[]).includes(grantType))
      throw new OAuthError('unauthorized_client', `this client is not registered for ${grantType}`, {
        reason: 'grant_type_not_registered',
      });
    const response = await grant.exchange({ params, client, request, dpopJkt: undefined }, runtime);
    runtime.metrics.tokensIssued.inc({ grant_type: grantType, auth_method: client.method });
    runtime.log.info(
      {
        clientId: client.client.clientId,
        grantType,
        authMethod: client.method,
        scope: response.scope,
        certificateBound: request.certificate !== undefined,
      },
      'token issued',
    );
    return jsonReply(response);
  },
};
