/**
 * grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.5, OIDC Core §3.1.3). The code is bound to
 * the client, the redirect_uri and the PKCE challenge, is short-lived and single use: presenting a
 * redeemed code again fails with invalid_grant and revokes every token the first use produced
 * (RFC 6749 §4.1.2). Tokens are sender-constrained (FAPI 1 Advanced §5.2.2-5, FAPI 2.0 §5.3.2.1): the
 * access token is bound to the DPoP proof's key or the connection's client certificate, so a request
 * with neither is refused.
 */
import { invalidGrant } from '../errors.js';
import { mintGrantTokens } from '../steps/mint-tokens.js';
import { grantExpiresAtMs } from '../tokens/refresh-token.js';
import { authorizationContextOf } from '../authorize/authorization-context.js';
import { codeVerifierMatches } from '../authorize/pkce.js';
import { idTokenUserClaims } from '../authorize/user-claims.js';
import { endUsersOf } from '../users/authenticator.js';
import { senderConstraintRequired, type Grant } from './grant.js';

export const authorizationCodeGrant: Grant = {
  grantType: 'authorization_code',
  async exchange({ params, client, request, dpopJkt }, runtime) {
    const code = params.required('code');
    const store = authorizationContextOf(runtime).store;
    const found = await store.findCode(code);
    if (!found) throw invalidGrant('the authorization code is invalid or expired', 'code_invalid');
    const { grant } = found;
    const revokeFirstUse = async () => {
      await runtime.storage.grants.revokeGrant(grant.grantId, grantExpiresAtMs(runtime));
      runtime.log.warn(
        { clientId: grant.clientId, grantId: grant.grantId },
        'authorization code used twice: tokens from its first use revoked (RFC 6749 §4.1.2)',
      );
      return invalidGrant(
        'the authorization code was already used; tokens issued from it are revoked',
        'code_reused',
      );
    };
    // The client first: a used code shown by another client must not revoke its owner's tokens.
    if (grant.clientId !== client.client.clientId)
      throw invalidGrant('the authorization code was issued to another client', 'code_client_mismatch');
    if (found.used) throw await revokeFirstUse();
    if (grant.expiresAt <= runtime.clock.nowSeconds())
      throw invalidGrant('the authorization code has expired', 'code_expired');
    // RFC 6749 §4.1.3: required, and identical to the authorization request's value.
    if (params.get('redirect_uri') !== grant.redirectUri)
      throw invalidGrant('redirect_uri does not match the authorization request', 'redirect_uri_mismatch');
    if (!codeVerifierMatches(params.get('code_verifier'), grant.codeChallenge))
      throw invalidGrant('code_verifier does not match the code_challenge (PKCE S256)', 'pkce_mismatch');
    if (!request.certificate && dpopJkt === undefined) throw senderConstraintRequired();
    // RFC 9449 §10: a code bound to a DPoP key (dpop_jkt) is redeemed only with a proof of that key.
    if (grant.dpopJkt !== undefined && grant.dpopJkt !== dpopJkt)
      throw invalidGrant(
        dpopJkt === undefined
          ? 'the authorization code is bound to a DPoP key (dpop_jkt): send a DPoP proof of that key'
          : 'the DPoP proof key is not the one the authorization code is bound to (dpop_jkt)',
        'dpop_jkt_mismatch',
      );

    const redemption = await store.redeemCode(code);
    if (!redemption) throw invalidGrant('the authorization code is invalid or expired', 'code_invalid');
    if (!redemption.firstUse) throw await revokeFirstUse();

    const user = grant.scopes.includes('openid')
      ? await endUsersOf(runtime).findBySubject(grant.sub)
      : undefined;
    return mintGrantTokens(runtime, {
      client: client.client,
      grant: {
        grantId: grant.grantId,
        clientId: grant.clientId,
        sub: grant.sub,
        scope: grant.scopes.join(' '),
        grantType: 'authorization_code',
        authTime: grant.authTime,
        ...(grant.acr !== undefined ? { acr: grant.acr } : {}),
        ...(grant.claims !== undefined ? { claimsRequest: grant.claims } : {}),
      },
      certificate: request.certificate,
      dpopJkt,
      idToken: {
        claims: idTokenUserClaims(user?.claims ?? {}, grant.claims),
        ...(grant.nonce !== undefined ? { nonce: grant.nonce } : {}),
        ...(grant.amr !== undefined ? { amr: grant.amr } : {}),
      },
    });
  },
};
