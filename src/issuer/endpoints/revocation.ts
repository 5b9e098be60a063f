/**
 * Token revocation (RFC 7009). The client authenticates; a token it does not own is refused (§2.1:
 * "verifies whether the token was issued to the client making the revocation request"); an invalid or
 * unknown token is answered 200 all the same (§2.2), so the endpoint is no oracle. Revoking a refresh
 * token revokes its whole grant, access tokens included (§2.1 SHOULD).
 */
import { OAuthError, invalidRequest } from '../errors.js';
import { jsonReply } from '../http.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { readForm } from '../steps/form-body.js';
import { tokenKey } from '../storage/store.js';
import { verifyOwnAccessToken } from '../tokens/verify-access-token.js';
import { clientAuthDiscovery } from './client-auth-discovery.js';
import type { Endpoint } from './endpoint.js';

const HINTS = new Set(['access_token', 'refresh_token']);

function notYours(): OAuthError {
  return invalidRequest('the token was not issued to this client', 'token_client_mismatch');
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
    const hint = params.get('token_type_hint');
    if (hint !== undefined && !HINTS.has(hint))
      throw new OAuthError(
        'unsupported_token_type',
        'token_type_hint must be access_token or refresh_token',
        {
          reason: 'unsupported_token_type',
        },
      );
    const callerId = caller.client.clientId;

    const access = await verifyOwnAccessToken(token, runtime, { checkRevocation: false });
    if (access) {
      if (access.payload.client_id !== callerId) throw notYours();
      await runtime.storage.accessTokens.revokeAccessToken(
        access.payload.jti!,
        (access.payload.exp! + 1) * 1000,
      );
      runtime.metrics.tokensRevoked.inc({ token_type: 'access_token' });
      runtime.log.info({ clientId: callerId, jti: access.payload.jti }, 'access token revoked');
      return jsonReply({});
    }
    const refresh = await runtime.storage.refreshTokens.findRefreshToken(tokenKey(token));
    if (refresh) {
      if (refresh.clientId !== callerId) throw notYours();
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
