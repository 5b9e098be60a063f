/**
 * JWT-secured introspection responses (RFC 9701): a caller sending
 * `Accept: application/token-introspection+jwt` gets the answer as a JWT signed with the issuer's active
 * key, so a resource server can prove what the issuer said (non-repudiation) and relay it. §5: header
 * `typ: token-introspection+jwt`; claims `iss` (the issuer), `aud` (the caller's client_id), `iat`, and
 * the RFC 7662 answer under `token_introspection`. The JWT has no `exp` of its own (§5: the answer is
 * about the token, whose `exp` is inside); responses are not encrypted (no client registered an
 * encryption key, §6).
 */
import { SignJWT } from 'jose';
import type { JsonBody } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';

export const INTROSPECTION_JWT_TYPE = 'token-introspection+jwt';
export const INTROSPECTION_JWT_MEDIA_TYPE = `application/${INTROSPECTION_JWT_TYPE}`;

/** True when the Accept header names `application/token-introspection+jwt` (RFC 9701 §4). */
export function wantsIntrospectionJwt(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept
    .split(',')
    .some((part) => part.split(';')[0]!.trim().toLowerCase() === INTROSPECTION_JWT_MEDIA_TYPE);
}

export async function signIntrospectionResponse(
  answer: JsonBody,
  callerClientId: string,
  runtime: IssuerRuntime,
): Promise<string> {
  const key = runtime.keys.active;
  return new SignJWT({ token_introspection: answer })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: INTROSPECTION_JWT_TYPE })
    .setIssuer(runtime.urls.issuer)
    .setAudience(callerClientId)
    .setIssuedAt(runtime.clock.nowSeconds())
    .sign(key.privateKey);
}
