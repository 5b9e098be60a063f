/**
 * The tokens a user's grant ends in (authorization code, CIBA): the grant record they all hang off, so
 * revoking it revokes all of them; an RFC 9068 access token bound to the client certificate (RFC 8705
 * §3) or the DPoP key (RFC 9449 §6); a refresh token when the client registered the refresh_token grant;
 * and, when openid was granted, an ID token carrying `at_hash` (OIDC Core §3.1.3.6).
 */
import type { ClientConfig } from '../config.js';
import type { TokenResponse } from '../grants/grant.js';
import type { IssuerRuntime } from '../runtime.js';
import type { GrantRecord } from '../storage/store.js';
import type { PresentedCertificate } from '../tls/client-certificate.js';
import { accessTokenFormatOf, issueAccessToken } from '../tokens/access-token.js';
import { signIdToken, type IdTokenRequest } from '../tokens/id-token.js';
import { grantExpiresAtMs, issueRefreshToken } from '../tokens/refresh-token.js';

export interface GrantTokens {
  client: ClientConfig;
  /** Saved before any token is minted; `scope` is the granted scope, space-separated. */
  grant: GrantRecord & { authTime: number };
  certificate: PresentedCertificate | undefined;
  dpopJkt: string | undefined;
  /** What the ID token says beyond sub, auth_time, acr and at_hash; only used when openid was granted. */
  idToken: Omit<IdTokenRequest, 'client' | 'sub' | 'authTime' | 'acr' | 'accessToken' | 'refreshToken'> & {
    /** CIBA Core §10.3.1: `urn:openid:params:jwt:claim:rt_hash` of the refresh token issued with it. */
    refreshTokenHash?: boolean;
  };
}

export async function mintGrantTokens(runtime: IssuerRuntime, minting: GrantTokens): Promise<TokenResponse> {
  const { client, grant, certificate, dpopJkt } = minting;
  const acr = grant.acr !== undefined ? { acr: grant.acr } : {};
  const dpop = dpopJkt !== undefined ? { dpopJkt } : {};
  await runtime.storage.grants.saveGrant(grant, grantExpiresAtMs(runtime));
  const access = await issueAccessToken(runtime, {
    sub: grant.sub,
    clientId: grant.clientId,
    scope: grant.scope,
    grantId: grant.grantId,
    certificate,
    ...dpop,
    format: accessTokenFormatOf(runtime, client),
    authTime: grant.authTime,
    ...acr,
  });
  const response: TokenResponse = {
    access_token: access.token,
    token_type: access.tokenType,
    expires_in: access.expiresIn,
    scope: grant.scope,
  };
  if (client.grantTypes.includes('refresh_token'))
    response.refresh_token = await issueRefreshToken(runtime, {
      grantId: grant.grantId,
      clientId: grant.clientId,
      sub: grant.sub,
      scope: grant.scope,
      ...dpop,
    });
  if (grant.scope.split(' ').includes('openid')) {
    const { refreshTokenHash, ...claims } = minting.idToken;
    response.id_token = await signIdToken(runtime, {
      ...claims,
      client,
      sub: grant.sub,
      authTime: grant.authTime,
      accessToken: access.token,
      ...(refreshTokenHash === true && response.refresh_token !== undefined
        ? { refreshToken: response.refresh_token }
        : {}),
      ...acr,
    });
  }
  return response;
}
