/**
 * The token endpoint (RFC 6749 §3.2): form body, DPoP proof, client authentication, then the grant
 * module for `grant_type` (grants/index.ts). The client is authenticated before the grant type is
 * looked at, so an unauthenticated caller learns nothing about what the server supports.
 *
 * A valid DPoP proof (RFC 9449 §5) makes the access token DPoP-bound, whatever the grant; it is checked
 * before client authentication so that a `use_dpop_nonce` challenge does not use up the client
 * assertion's single-use `jti` (the client retries with a new assertion and a proof with the nonce).
 * A client registered with `dpopBoundAccessTokens` (RFC 9449 §5.2) must send a proof.
 */
import { DPOP_ALGORITHMS } from '../../dpop/index.js';
import { OAuthError, invalidRequest } from '../errors.js';
import { jsonReply } from '../http.js';
import { TOKEN_ISSUED, clientLogger } from '../logger.js';
import { findGrant, grants } from '../grants/index.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { authorizationServerProof, dpopNonceHeaders } from '../steps/dpop-proof.js';
import { readForm } from '../steps/form-body.js';
import { clientAuthDiscovery } from './client-auth-discovery.js';
import type { Endpoint } from './endpoint.js';

export const tokenEndpoint: Endpoint = {
  name: 'token',
  path: '/token',
  methods: ['POST'],
  metadataName: 'token_endpoint',
  mtlsAlias: true,
  discovery: (runtime) => ({
    grant_types_supported: grants.map((g) => g.grantType),
    ...clientAuthDiscovery('token_endpoint'),
    // RFC 9449 §5.1, in the order of the shared verifier's list.
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS.filter((a) =>
      (runtime.config.dpop.algorithms as readonly string[]).includes(a),
    ),
  }),
  async respond(request, runtime) {
    const params = await readForm(request);
    const proof = await authorizationServerProof(request, runtime);
    const client = await authenticateClient(request, params, runtime);
    const grantType = params.get('grant_type');
    if (grantType === undefined) throw invalidRequest('missing parameter "grant_type"', 'missing_parameter');
    const grant = findGrant(grantType);
    if (!grant) throw new OAuthError('unsupported_grant_type', 'this grant_type is not supported');
    if (!(client.client.grantTypes as readonly string[]).includes(grantType))
      throw new OAuthError('grant_type_not_registered', `this client is not registered for ${grantType}`);
    if (client.client.dpopBoundAccessTokens && !proof)
      throw new OAuthError(
        'dpop_proof_missing',
        'this client is registered for DPoP-bound access tokens: send a DPoP proof (RFC 9449 §5.2)',
      );
    // FAPI 2 SP §5.3.2.1 and FAPI 1 Advanced §5.2.2-5: only sender-constrained access tokens. Checked
    // before the grant runs, so a refused request uses up no code or refresh token.
    if (!proof && request.certificate === undefined)
      throw invalidRequest(
        'access tokens are sender-constrained: call the mTLS token endpoint with the client certificate, or send a DPoP proof (RFC 9449)',
        'sender_constraint_missing',
      );
    const response = await grant.exchange({ params, client, request, dpopJkt: proof?.jkt }, runtime);
    runtime.metrics.tokensIssued.inc({ grant_type: grantType, auth_method: client.method });
    clientLogger(runtime.log, client.client.clientId, grantType, client.method).info(
      {
        scope: response.scope,
        tokenType: response.token_type,
        certificateBound: request.certificate !== undefined && proof === undefined,
      },
      TOKEN_ISSUED,
    );
    return jsonReply(response, 200, dpopNonceHeaders(runtime));
  },
};
