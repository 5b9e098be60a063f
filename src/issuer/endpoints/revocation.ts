/**
 * Token revocation (RFC 7009), of access tokens in either format and of refresh tokens. The client
 * authenticates; it may revoke only tokens issued to itself (§2.1: the server "verifies whether the
 * token was issued to the client making the revocation request"). Another client's token, an invalid
 * or an unknown one is answered 200 and nothing happens (§2.2), so the endpoint tells no caller which
 * tokens exist. Revoking a refresh token revokes its whole grant, access tokens included (§2.1 SHOULD).
 */
import { jsonReply, type Reply } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { readForm } from '../steps/form-body.js';
import { tokenKey } from '../storage/store.js';
import { verifyOwnAccessToken } from '../tokens/verify-access-token.js';
import { clientAuthDiscovery } from './client-auth-discovery.js';
import type { Endpoint } from './endpoint.js';

function notYours(runtime: IssuerRuntime, callerId: string): Reply {
  runtime.log.info({ clientId: callerId }, "revocation of another client's token ignored");
  return jsonReply({});
}

export const revocationEndpoint: Endpoint = {
  name: 'revocation',
  path: '/revoke',
  methods: ['POST'],
  metadataName: 'revocation_endpoint',
  mtlsAlias: true,
  discovery: () => clientAuthDiscovery('revocation_endpoint'),
  async respond(request, runtime) {
    const params = await readForm(request);
    const caller = await authenticateClient(request, params, runtime);
    const token = params.required('token');
    // RFC 7009 §2.1: token_type_hint only orders the search, which covers every token type anyway (access
    // tokens first: they are checked without a store read); a hint that does not fit is not an error.
    const callerId = caller.client.clientId;

    const access = await verifyOwnAccessToken(token, runtime, { checkRevocation: false });
    if (access) {
      if (access.payload.client_id !== callerId) return notYours(runtime, callerId);
      await runtime.storage.accessTokens.revokeAccessToken(
        access.revocationKey,
        (access.payload.exp + 1) * 1000,
      );
      runtime.metrics.tokensRevoked.inc({ token_type: 'access_token' });
      runtime.log.info(
        { clientId: callerId, jti: access.payload.jti, format: access.format },
        'access token revoked',
      );
      return jsonReply({});
    }
    const refresh = await runtime.storage.refreshTokens.findRefreshToken(tokenKey(token));
    if (refresh) {
      if (refresh.clientId !== callerId) return notYours(runtime, callerId);
      await runtime.storage.refreshTokens.revokeRefreshToken(refresh.key);
      await runtime.storage.grants.revokeGrant(refresh.grantId, refresh.exp * 1000);
      runtime.metrics.tokensRevoked.inc({ token_type: 'refresh_token' });
      runtime.log.info(
        { clientId: callerId, grantId: refresh.grantId },
        'refresh token and its grant revoked',
      );
    }
    return jsonReply({});
  },
};
