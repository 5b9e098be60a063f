/**
 * Token minting for the CIBA grant, with the core issuer's token modules: an RFC 9068 access token bound
 * to the given certificate thumbprint (RFC 8705 §3), a refresh token when the client registered the
 * refresh_token grant (bound to the client, rotated by the refresh_token grant), and an ID token signed
 * with the client's `idTokenSignedResponseAlg` carrying `at_hash`, `urn:openid:params:jwt:claim:rt_hash`
 * (with a refresh token) and `urn:openid:params:jwt:claim:auth_req_id`. CIBA Core §10.3.1 requires these
 * in push mode; we add them in poll and ping mode too, where they cost nothing and tie the ID token to
 * the request. Everything hangs off one grant record, so revoking it revokes all of it.
 */
import type { IssuerRuntime } from '../runtime.js';
import { mintGrantTokens } from '../steps/mint-tokens.js';
import { randomValue } from '../tokens/random.js';
import { grantExpiresAtMs } from '../tokens/refresh-token.js';
import type { TokenResponse } from '../grants/grant.js';
import type { CibaGrant, CibaTokenIssuer } from './service.js';
import { CIBA_GRANT_TYPE } from './service.js';

export function runtimeCibaTokens(runtime: IssuerRuntime): CibaTokenIssuer {
  return {
    async issue(grant: CibaGrant): Promise<{ response: TokenResponse; grantId: string }> {
      const { client, user } = grant;
      const grantId = randomValue(16);
      // The core binds to a presented certificate; push mode only has the backchannel request's thumbprint.
      const certificate =
        grant.certificateThumbprint !== undefined
          ? { der: Buffer.alloc(0), thumbprint: grant.certificateThumbprint, chainVerified: false }
          : undefined;
      const response = await mintGrantTokens(runtime, {
        client,
        grant: {
          grantId,
          clientId: client.clientId,
          sub: user.sub,
          scope: grant.scopes.join(' '),
          grantType: CIBA_GRANT_TYPE,
          authTime: grant.authTime ?? runtime.clock.nowSeconds(),
          ...(user.acr !== undefined ? { acr: user.acr } : {}),
          authReqId: grant.authReqId,
        },
        certificate,
        dpopJkt: grant.dpopJkt,
        idToken: { authReqId: grant.authReqId, refreshTokenHash: true },
      });
      return { response, grantId };
    },
    // Revoking the grant makes its refresh token unusable and its access token inactive at introspection.
    revokeGrant: (grantId) => runtime.storage.grants.revokeGrant(grantId, grantExpiresAtMs(runtime)),
  };
}
