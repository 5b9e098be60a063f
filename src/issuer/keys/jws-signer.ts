/**
 * Compact JWS signing with a key prepared once per signing key: fast-jwt over node:crypto, synchronous.
 * jose's SignJWT signs through WebCrypto, an asynchronous job (and a promise chain) per token; on the
 * token endpoint that was a third of the CPU of a client_credentials request. The header is fixed per
 * signer (alg, kid, typ); the claims are the caller's and must include `iat` (fast-jwt would otherwise
 * take its own clock's).
 */
import type { KeyObject } from 'node:crypto';
import { createSigner } from 'fast-jwt';

export type SignCompact = (claims: Record<string, unknown>) => string;

export function compactSigner(
  privateKey: KeyObject,
  header: { alg: 'PS256' | 'ES256'; kid: string; typ: string },
): SignCompact {
  const sign = createSigner({
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    algorithm: header.alg,
    kid: header.kid,
    header: { alg: header.alg, typ: header.typ },
  });
  return (claims) => sign(claims);
}
