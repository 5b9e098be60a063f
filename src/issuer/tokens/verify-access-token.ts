/**
 * Finds an access token this issuer minted (introspection, revocation, userinfo), in either format:
 * a JWT must verify with one of our published keys, `typ: at+jwt`, our `iss`, not expired; an opaque
 * token must be in the store under its hash (`tokenKey`) and not expired. Then whether it, or the grant
 * it came from, was revoked. Never throws for a bad token: resolves undefined (RFC 7662 §2.2 answers
 * `active: false` for anything invalid).
 */
import { LRUCache } from 'lru-cache';
import { isAccessTokenTyp } from '../../jose/access-token-typ.js';
import { KeyRing, decodeCompactJws, type DecodedJws } from '../../jose/key-ring.js';
import type { IssuerRuntime } from '../runtime.js';
import { tokenKey } from '../storage/store.js';
import type { AccessTokenClaims, AccessTokenFormat } from './access-token.js';
import { SIGNING_ALGORITHMS } from '../config.js';

export interface ActiveAccessToken {
  payload: AccessTokenClaims;
  grantId: string | undefined;
  format: AccessTokenFormat;
  /** The AccessTokenStore key that revokes it (the JWT's jti, the opaque token's hash). */
  revocationKey: string;
}

/** JWS compact serialisation: three base64url parts. Opaque tokens are one base64url string. */
const looksLikeJwt = (token: string) => token.split('.').length === 3;

/**
 * Verified access tokens, by the SHA-256 of the token, kept until they expire: a resource server
 * introspects the same token on every call it serves with it, and only its first introspection pays
 * for the signature. The revocation state is still read on every introspection. The hash keeps no
 * live credential in the heap. Bounded, least recently used first out.
 */
const VERIFIED_TOKEN_CACHE_ENTRIES = 10_000;

/**
 * The issuer's own keys prepared once per key set (src/jose/key-ring.ts): an introspected JWT is decoded
 * once and its signature checked by node:crypto synchronously, without WebCrypto's asynchronous job and
 * without importing a key again. Verified tokens are cached per key set.
 */
interface OwnKeys {
  ring: KeyRing;
  verified: LRUCache<string, AccessTokenClaims>;
}
const ownKeysBySet = new WeakMap<object, OwnKeys>();

function ownKeys(runtime: IssuerRuntime): OwnKeys {
  let keys = ownKeysBySet.get(runtime.keys.jwks);
  if (!keys) {
    keys = {
      ring: new KeyRing(runtime.keys.jwks, SIGNING_ALGORITHMS),
      verified: new LRUCache({ max: VERIFIED_TOKEN_CACHE_ENTRIES }),
    };
    ownKeysBySet.set(runtime.keys.jwks, keys);
  }
  return keys;
}

/**
 * RFC 9068 §4 for a token of ours: our key (by `kid`, with an allowed algorithm), `typ: at+jwt`, our
 * `iss`, `exp`/`iat`/`jti`/`sub` present, not expired, `nbf` reached.
 */
function verifiedClaims(token: string, runtime: IssuerRuntime): AccessTokenClaims | undefined {
  const keys = ownKeys(runtime);
  const now = Math.floor(runtime.clock.nowMs() / 1000);
  const cacheKey = tokenKey(token);
  const cached = keys.verified.get(cacheKey);
  if (cached !== undefined) {
    if (cached.exp > now) return cached;
    keys.verified.delete(cacheKey);
    return undefined;
  }
  let jws: DecodedJws;
  try {
    jws = decodeCompactJws(token);
  } catch {
    return undefined;
  }
  const { header, payload } = jws;
  const { alg, kid } = header;
  if (typeof alg !== 'string' || (kid !== undefined && typeof kid !== 'string')) return undefined;
  const selected = keys.ring.select(alg, kid);
  if (selected.kind !== 'key' || !selected.verifySignature(jws) || header.crit !== undefined)
    return undefined;
  if (!isAccessTokenTyp(header.typ) || payload.iss !== runtime.urls.issuer) return undefined;
  const { exp, iat, nbf, jti, sub } = payload;
  if (typeof exp !== 'number' || typeof iat !== 'number' || typeof jti !== 'string') return undefined;
  if (typeof sub !== 'string') return undefined;
  if (exp <= now || (nbf !== undefined && (typeof nbf !== 'number' || nbf > now))) return undefined;
  const claims = payload as unknown as AccessTokenClaims;
  keys.verified.set(cacheKey, claims);
  return claims;
}

async function findJwt(token: string, runtime: IssuerRuntime): Promise<ActiveAccessToken | undefined> {
  const payload = verifiedClaims(token, runtime);
  if (payload === undefined) return undefined;
  const record = await runtime.storage.accessTokens.findAccessToken(payload.jti);
  return { payload, grantId: record?.grantId, format: 'jwt', revocationKey: payload.jti };
}

async function findOpaque(token: string, runtime: IssuerRuntime): Promise<ActiveAccessToken | undefined> {
  if (token.length < 43 || token.length > 512) return undefined;
  const key = tokenKey(token);
  const record = await runtime.storage.accessTokens.findAccessToken(key);
  const payload = record?.opaque;
  if (!record || !payload) return undefined;
  if (payload.exp <= runtime.clock.nowSeconds()) return undefined;
  return { payload, grantId: record.grantId, format: 'opaque', revocationKey: key };
}

export async function verifyOwnAccessToken(
  token: string,
  runtime: IssuerRuntime,
  options: { checkRevocation?: boolean } = {},
): Promise<ActiveAccessToken | undefined> {
  const found = looksLikeJwt(token) ? await findJwt(token, runtime) : await findOpaque(token, runtime);
  if (!found) return undefined;
  if (options.checkRevocation !== false) {
    if (await runtime.storage.accessTokens.isAccessTokenRevoked(found.revocationKey)) return undefined;
    if (found.grantId && (await runtime.storage.grants.isGrantRevoked(found.grantId))) return undefined;
  }
  return found;
}
