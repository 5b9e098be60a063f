/**
 * Checks an access token this issuer minted (introspection, revocation, userinfo): signature with one
 * of our published keys, `typ: at+jwt`, our `iss`, not expired; then whether it, or the grant it came
 * from, was revoked. Never throws for a bad token: resolves undefined (RFC 7662 §2.2 answers
 * `active: false` for anything invalid).
 */
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { IssuerRuntime } from '../runtime.js';

export interface ActiveAccessToken {
  payload: JWTPayload & { client_id?: string; scope?: string; cnf?: { 'x5t#S256'?: string } };
  grantId: string | undefined;
}

export async function verifyOwnAccessToken(
  token: string,
  runtime: IssuerRuntime,
  options: { checkRevocation?: boolean } = {},
): Promise<ActiveAccessToken | undefined> {
  let payload: ActiveAccessToken['payload'];
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet(runtime.keys.jwks), {
      algorithms: ['PS256', 'ES256'],
      issuer: runtime.urls.issuer,
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      currentDate: new Date(runtime.clock.nowMs()),
    }));
  } catch {
    return undefined;
  }
  const jti = payload.jti!;
  const record = await runtime.storage.accessTokens.findAccessToken(jti);
  const grantId = record?.grantId;
  if (options.checkRevocation !== false) {
    if (await runtime.storage.accessTokens.isAccessTokenRevoked(jti)) return undefined;
    if (grantId && (await runtime.storage.grants.isGrantRevoked(grantId))) return undefined;
  }
  return { payload, grantId };
}
