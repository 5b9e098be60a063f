/**
 * Access tokens, in one of two formats (`accessTokens.format`, per client `accessTokenFormat`):
 * - `jwt`: RFC 9068 JWTs (`typ: at+jwt`) signed with the active key; those of a grant are remembered by
 *   `jti` with it, so revoking the token or its grant makes introspection answer `active: false`;
 * - `opaque`: 256 random bits (RFC 6749 §10.10 asks for >= 128) that mean nothing by themselves; the
 *   store keeps the claims under the token's SHA-256 (`tokenKey`) until it expires, so a store dump
 *   hands out no usable token, and resource servers learn the claims by introspection (RFC 7662).
 *
 * Binding (`cnf`): to the DPoP proof key when the token request carried a valid proof (RFC 9449 §6,
 * `jkt`), otherwise to the connection's client certificate whenever there is one (RFC 8705 §3.1
 * `x5t#S256`), whatever the client authentication method. With both, the DPoP key wins: the client
 * asked for DPoP explicitly, and a token carries one confirmation method (as node-oidc-provider does).
 */
import type { ClientConfig } from '../config.js';
import type { PresentedCertificate } from '../tls/client-certificate.js';
import type { IssuerRuntime } from '../runtime.js';
import { tokenKey } from '../storage/store.js';
import { randomValue } from './random.js';

export type AccessTokenFormat = 'jwt' | 'opaque';

/** The `cnf` claim (RFC 7800) of a bound token. */
export interface Confirmation {
  'x5t#S256'?: string;
  jkt?: string;
}

/** The claims of an access token, whatever its format (what introspection answers from). */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope: string;
  auth_time?: number;
  acr?: string;
  cnf?: Confirmation;
  [claim: string]: unknown;
}

export interface AccessTokenRequest {
  /** The resource owner; the client_id itself for client_credentials (RFC 9068 §2.2). */
  sub: string;
  clientId: string;
  /** Space-separated granted scopes. */
  scope: string;
  /** The grant it comes from (refresh tokens, codes, CIBA); revoking the grant revokes the token. */
  grantId?: string;
  certificate: PresentedCertificate | undefined;
  /** RFC 7638 thumbprint of the DPoP proof key of the token request (RFC 9449 §6.1). */
  dpopJkt?: string;
  /** `accessTokens.format` unless given (see accessTokenFormatOf). */
  format?: AccessTokenFormat;
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
  /** RFC 9449 §5.1: `DPoP` for a DPoP-bound token, `Bearer` otherwise. */
  tokenType: 'Bearer' | 'DPoP';
}

/** The format of a client's access tokens: its own `accessTokenFormat`, else `accessTokens.format`. */
export function accessTokenFormatOf(runtime: IssuerRuntime, client: ClientConfig): AccessTokenFormat {
  return client.accessTokenFormat ?? runtime.config.accessTokens.format;
}

export async function issueAccessToken(
  runtime: IssuerRuntime,
  request: AccessTokenRequest,
): Promise<IssuedAccessToken> {
  const iat = runtime.clock.nowSeconds();
  const expiresIn = request.ttlSeconds ?? runtime.config.accessTokens.ttlSeconds;
  const exp = iat + expiresIn;
  const jti = randomValue(16);
  const x5tS256 = request.dpopJkt === undefined ? request.certificate?.thumbprint : undefined;
  const cnf: Confirmation | undefined =
    request.dpopJkt !== undefined
      ? { jkt: request.dpopJkt }
      : x5tS256 !== undefined
        ? { 'x5t#S256': x5tS256 }
        : undefined;
  const tokenType = request.dpopJkt !== undefined ? 'DPoP' : 'Bearer';
  const claims: Record<string, unknown> = {
    ...request.extraClaims,
    client_id: request.clientId,
    scope: request.scope,
    ...(request.authTime !== undefined ? { auth_time: request.authTime } : {}),
    ...(request.acr !== undefined ? { acr: request.acr } : {}),
    ...(cnf ? { cnf } : {}),
  };
  const grant = request.grantId ? { grantId: request.grantId } : {};

  if ((request.format ?? runtime.config.accessTokens.format) === 'opaque') {
    const token = randomValue(32);
    const stored: AccessTokenClaims = {
      ...claims,
      iss: runtime.urls.issuer,
      sub: request.sub,
      aud: runtime.config.accessTokens.audience,
      exp,
      iat,
      jti,
      client_id: request.clientId,
      scope: request.scope,
    };
    await runtime.storage.accessTokens.rememberAccessToken({
      jti: tokenKey(token),
      clientId: request.clientId,
      exp,
      ...grant,
      opaque: stored,
    });
    return { token, jti, expiresIn, exp, x5tS256, tokenType };
  }

  // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti (and the claims above).
  const token = runtime.keys.active.signAccessToken({
    ...claims,
    iss: runtime.urls.issuer,
    sub: request.sub,
    aud: runtime.config.accessTokens.audience,
    iat,
    exp,
    jti,
  });
  // The record only links the JWT to its grant (revoking the grant revokes it); a token of no grant
  // (client_credentials) carries all it is in itself, and revoking it records its jti.
  if (request.grantId)
    await runtime.storage.accessTokens.rememberAccessToken({
      jti,
      clientId: request.clientId,
      exp,
      ...grant,
    });
  return { token, jti, expiresIn, exp, x5tS256, tokenType };
}
