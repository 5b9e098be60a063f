/**
 * grant_type=client_credentials (RFC 6749 §4.4): the client acts on its own behalf, so `sub` is its
 * client_id (RFC 9068 §2.2), no refresh token is issued (§4.4.3), and `openid` (which needs an end
 * user) cannot be granted. Without a `scope` parameter the client gets every scope it registered
 * (RFC 6749 §3.3 lets the server choose a default; the response states what was granted).
 */
import { OAuthError } from '../errors.js';
import { accessTokenFormatOf, issueAccessToken } from '../tokens/access-token.js';
import type { Grant } from './grant.js';
import { parseScope, requireAllowedScopes } from './scope.js';

export const clientCredentialsGrant: Grant = {
  grantType: 'client_credentials',
  async exchange({ params, client, request, dpopJkt }, runtime) {
    const registered = client.client.scopes.filter((s) => s !== 'openid');
    const requested = parseScope(params.get('scope')) ?? registered;
    if (requested.includes('openid'))
      throw new OAuthError('scope_not_allowed', 'openid needs an end user; client_credentials has none');
    requireAllowedScopes(requested, registered);
    if (requested.length === 0)
      throw new OAuthError('scope_missing', 'no scope requested and none registered for this client');
    const scope = requested.join(' ');
    const issued = await issueAccessToken(runtime, {
      sub: client.client.clientId,
      clientId: client.client.clientId,
      scope,
      certificate: request.certificate,
      dpopJkt,
      format: accessTokenFormatOf(runtime, client.client),
    });
    return {
      access_token: issued.token,
      token_type: issued.tokenType,
      expires_in: issued.expiresIn,
      scope,
    };
  },
};
