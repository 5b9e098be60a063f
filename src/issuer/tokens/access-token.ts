/**
 * Access tokens: RFC 9068 JWTs (`typ: at+jwt`) signed with the active key, bound to the client
 * certificate of the connection whenever there is one (RFC 8705 §3.1 `cnf.x5t#S256`), whatever the
 * client authentication method. Each token is remembered by `jti` (with its grant) so revoking the
 * token or its grant makes introspection answer `active: false`.
 */
import { SignJWT } from 'jose';
import type { PresentedCertificate } from '../tls/client-certificate.js';
import type { IssuerRuntime } from '../runtime.js';
import { randomValue } from './random.js';

export interface AccessTokenRequest {
  /** The resource owner; the client_id itself for client_credentials (RFC 9068 §2.2). */
  sub: string;
  clientId: string;
  /** Space-separated granted scopes. */
  scope: string;
  /** The grant it comes from (refresh tokens, codes, CIBA); revoking the grant revokes the token. */
  grantId?: string;
  certificate: PresentedCertificate | undefined;
  /** Unix seconds of the user's authentication (RFC 9068 §2.2.1). */
  authTime?: number;
  acr?: string;
  /** Lifetime override (seconds); `accessTokens.ttlSeconds` otherwise. */
  ttlSeconds?: number;
  /** Further claims (never iss, exp, iat, jti, cnf: those are set here). */
  extraClaims?: Record<string, unknown>;
}

export interface IssuedAccessToken {
  token: string;
  jti: string;
  expiresIn: number;
  exp: number;
  /** Thumbprint the token is bound to, if any. */
  x5tS256: string | undefined;
}

export async function issueAccessToken(
  runtime: IssuerRuntime,
  request: AccessTokenRequest,
): Promise<IssuedAccessToken> {
  const key = runtime.keys.active;
  const iat = runtime.clock.nowSeconds();
  const expiresIn = request.ttlSeconds ?? runtime.config.accessTokens.ttlSeconds;
  const exp = iat + expiresIn;
  const jti = randomValue(16);
  const x5tS256 = request.certificate?.thumbprint;
  const claims: Record<string, unknown> = {
    ...request.extraClaims,
    client_id: request.clientId,
    scope: request.scope,
    ...(request.authTime !== undefined ? { auth_time: request.authTime } : {}),
    ...(request.acr !== undefined ? { acr: request.acr } : {}),
    ...(x5tS256 ? { cnf: { 'x5t#S256': x5tS256 } } : {}),
  };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(runtime.urls.issuer)
    .setSubject(request.sub)
    .setAudience(runtime.config.accessTokens.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key.privateKey);
  await runtime.storage.accessTokens.rememberAccessToken({
    jti,
    clientId: request.clientId,
    exp,
    ...(request.grantId ? { grantId: request.grantId } : {}),
  });
  return { token, jti, expiresIn, exp, x5tS256 };
}
