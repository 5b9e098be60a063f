/**
 * Finds an access token this issuer minted (introspection, revocation, userinfo), in either format:
 * a JWT must verify with one of our published keys, `typ: at+jwt`, our `iss`, not expired; an opaque
 * token must be in the store under its hash (`tokenKey`) and not expired. Then whether it, or the grant
 * it came from, was revoked. Never throws for a bad token: resolves undefined (RFC 7662 §2.2 answers
 * `active: false` for anything invalid).
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
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
 * One local JWK Set per key set: jose imports each key once and keeps it in the set, where a set made
 * per call imported the key again for every token introspected.
 */
const keySets = new WeakMap<object, ReturnType<typeof createLocalJWKSet>>();

function localKeySet(runtime: IssuerRuntime): ReturnType<typeof createLocalJWKSet> {
  let set = keySets.get(runtime.keys.jwks);
  if (!set) {
    set = createLocalJWKSet(runtime.keys.jwks);
    keySets.set(runtime.keys.jwks, set);
  }
  return set;
}

async function findJwt(token: string, runtime: IssuerRuntime): Promise<ActiveAccessToken | undefined> {
  let payload: AccessTokenClaims;
  try {
    ({ payload } = await jwtVerify<AccessTokenClaims>(token, localKeySet(runtime), {
      algorithms: [...SIGNING_ALGORITHMS],
      issuer: runtime.urls.issuer,
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
      currentDate: new Date(runtime.clock.nowMs()),
    }));
  } catch {
    return undefined;
  }
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
