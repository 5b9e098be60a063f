/**
 * grant_type=refresh_token (RFC 6749 §6) for grants that issue refresh tokens (authorization code,
 * CIBA). The token is bound to the client it was issued to and rotated on every use; presenting a
 * rotated one revokes the whole family (tokens/refresh-token.ts, RFC 9700 §4.14.2). A `scope` may only
 * narrow the original grant. The new access token is bound to the DPoP proof's key or the connection's
 * certificate, one of which is therefore required (FAPI: sender-constrained access tokens). A grant
 * whose tokens are DPoP-bound accepts only a proof of the same key (tokens/refresh-token.ts).
 */
import { OAuthError, invalidGrant } from '../errors.js';
import { tokenKey } from '../storage/store.js';
import { accessTokenFormatOf, issueAccessToken } from '../tokens/access-token.js';
import { signIdToken } from '../tokens/id-token.js';
import { refreshTokenDpopJkt, rotateRefreshToken } from '../tokens/refresh-token.js';
import { idTokenUserClaims } from '../authorize/user-claims.js';
import { endUsersOf } from '../users/authenticator.js';
import { senderConstraintRequired, type Grant, type TokenResponse } from './grant.js';
import { parseScope } from './scope.js';

export const refreshTokenGrant: Grant = {
  grantType: 'refresh_token',
  async exchange({ params, client, request, dpopJkt }, runtime) {
    const presented = params.required('refresh_token');
    const requested = parseScope(params.get('scope'));
    if (!request.certificate && dpopJkt === undefined) throw senderConstraintRequired();
    // The scope is checked before rotation, so a refused request leaves the client's token usable.
    const current = await runtime.storage.refreshTokens.findRefreshToken(tokenKey(presented));
    const boundTo = current ? refreshTokenDpopJkt(current) : undefined;
    if (
      current &&
      current.clientId === client.client.clientId &&
      boundTo !== undefined &&
      boundTo !== dpopJkt
    )
      throw invalidGrant(
        dpopJkt === undefined
          ? 'the tokens of this grant are DPoP-bound: send a DPoP proof of the same key'
          : 'the DPoP proof key is not the one the tokens of this grant are bound to',
        'dpop_key_mismatch',
      );
    if (current && current.clientId === client.client.clientId && requested) {
      const original = current.scope.split(' ');
      if (requested.some((s) => !original.includes(s)))
        throw new OAuthError('scope_not_granted', 'scope may only narrow the original grant (RFC 6749 §6)');
    }
    const { value, previous } = await rotateRefreshToken(runtime, presented, client.client.clientId);
    const granted = previous.scope.split(' ');
    if (requested && requested.some((s) => !granted.includes(s)))
      throw new OAuthError('scope_not_granted', 'scope may only narrow the original grant (RFC 6749 §6)');
    const scopes = requested ?? granted;
    const scope = scopes.join(' ');
    const grant = await runtime.storage.grants.findGrant(previous.grantId);
    const issued = await issueAccessToken(runtime, {
      sub: previous.sub,
      clientId: previous.clientId,
      scope,
      grantId: previous.grantId,
      certificate: request.certificate,
      dpopJkt,
      format: accessTokenFormatOf(runtime, client.client),
      ...(grant?.authTime !== undefined ? { authTime: grant.authTime } : {}),
      ...(grant?.acr !== undefined ? { acr: grant.acr } : {}),
    });
    const response: TokenResponse = {
      access_token: issued.token,
      token_type: issued.tokenType,
      expires_in: issued.expiresIn,
      scope,
      refresh_token: value,
    };
    // OIDC Core §12.2: a refreshed ID token keeps sub, auth_time and acr, and carries no nonce.
    if (scopes.includes('openid') && grant?.authTime !== undefined) {
      const user = await endUsersOf(runtime).findBySubject(previous.sub);
      const claimsRequest = grant?.claimsRequest;
      response.id_token = await signIdToken(runtime, {
        client: client.client,
        sub: previous.sub,
        authTime: grant.authTime,
        accessToken: issued.token,
        claims: idTokenUserClaims(user?.claims ?? {}, claimsRequest),
        ...(grant.acr !== undefined ? { acr: grant.acr } : {}),
      });
    }
    return response;
  },
};
