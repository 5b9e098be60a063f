/**
 * JWT access-token validation (RFC 9068, RFC 8725), with a cache of successful verifications: the
 * TokenVerifier for tokens the gateway can check locally.
 *
 * Keys come only from the configured JWKS (never from `jku`, `x5u`, `jwk` or `x5c` headers: see
 * src/jose/key-ring.ts for the selection rules); the algorithm allow-list excludes `none` and HMAC, so a token
 * "signed" with the issuer's public key as an HMAC secret is refused before any key is chosen. A token
 * seen for the first time is decoded once (fast-jwt's decoder: header, claims, signing input), its
 * signature verified synchronously over a key prepared once per key set (src/jose/key-ring.ts), and its claims
 * checked by the rules of jwt-claims.ts and verified-token.ts, each with one rejection reason.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { JwksCache, type JwksCacheOptions } from '../jwks-cache.js';
import { reject, type Reject } from '../rejections.js';
import { KeyRing, decodeCompactJws, type DecodedJws } from '../../jose/key-ring.js';
import { claimsProblem } from './jwt-claims.js';
import { verifiedTokenFromPayload } from './verified-token.js';
import {
  isReject,
  type ConnectionTokenMemo,
  type TokenVerifier,
  type VerifiedAccessToken,
} from './verifier.js';

export interface AccessTokenPolicy {
  issuer: string;
  audience: string | string[];
  algorithms: string[];
  clockSkewSeconds: number;
  /** Verified tokens remembered (0 disables the cache). */
  cacheMaxEntries: number;
  /** Called when a token is served from the verification cache (metrics). */
  onCacheHit?: () => void;
}

/** Upper bound on a token's length: a JWT access token is a few hundred bytes to a few KiB. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** A compact JWS by its shape (RFC 7515 §7.1), not yet decoded. */
export function looksLikeCompactJws(token: string): boolean {
  return token.length <= MAX_TOKEN_LENGTH && COMPACT_JWS.test(token);
}

/**
 * The verification cache is keyed by the token's SHA-256, not the token: remembered bearer tokens are not
 * kept in memory (a heap dump would otherwise hold up to `cacheMaxEntries` live credentials), and a key
 * is 43 bytes instead of the token's ~700, which keeps a full cache's heap and GC churn small.
 */
function cacheKey(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** The token names a key the cached set does not have (the issuer may have rotated: refetch once). */
const UNKNOWN_KEY = Symbol('unknown key');

export class JwtVerifier implements TokenVerifier {
  readonly kind = 'jwt';
  /** The issuer's signing keys (its age and size are gauges). */
  readonly jwks: JwksCache;
  private readonly cache: LRUCache<string, VerifiedAccessToken> | undefined;
  private readonly allowed: ReadonlySet<string>;
  private readonly claimPolicy: { issuer: string; audience: readonly string[]; clockSkewSeconds: number };
  private ring: KeyRing | undefined;
  private ringGeneration = -1;

  /** Starts fetching the key set at once; `stop()` ends the background refresh. */
  constructor(
    private readonly policy: AccessTokenPolicy,
    jwksOptions: JwksCacheOptions,
  ) {
    const jwks = new JwksCache(jwksOptions);
    this.jwks = jwks;
    this.allowed = new Set(policy.algorithms);
    this.claimPolicy = {
      issuer: policy.issuer,
      audience: typeof policy.audience === 'string' ? [policy.audience] : policy.audience,
      clockSkewSeconds: policy.clockSkewSeconds,
    };
    if (policy.cacheMaxEntries > 0) {
      this.cache = new LRUCache({ max: policy.cacheMaxEntries });
    }
    jwks.onChange(() => {
      // A key removed from the issuer's set must stop accepting its tokens at once.
      this.cache?.clear();
      this.keyRing(); // prepare the new keys now, not on the next request
    });
    jwks.start();
  }

  ready(): boolean {
    return this.jwks.ready;
  }

  whenReady(): Promise<void> {
    return this.jwks.whenReady();
  }

  stop(): void {
    this.jwks.stop();
  }

  /** The prepared keys of the current key set: built once per key set. */
  private keyRing(): KeyRing {
    if (this.ring === undefined || this.ringGeneration !== this.jwks.generation) {
      this.ring = new KeyRing(this.jwks.keySet!, this.policy.algorithms);
      this.ringGeneration = this.jwks.generation;
    }
    return this.ring;
  }

  /**
   * A verified token or the reason it is refused. Synchronous except when the token names a key the
   * cached set lacks (one JWKS refetch). Repeated tokens skip signature verification (the hot path).
   */
  verify(
    token: string,
    memo?: ConnectionTokenMemo,
  ): VerifiedAccessToken | Reject | Promise<VerifiedAccessToken | Reject> {
    if (
      memo !== undefined &&
      memo.token === token &&
      memo.owner === this &&
      memo.generation === this.jwks.generation
    ) {
      const v = memo.verified!;
      if (Date.now() / 1000 <= v.expiresAt + this.policy.clockSkewSeconds) {
        this.policy.onCacheHit?.();
        return v;
      }
    }
    const key = this.cache ? cacheKey(token) : undefined;
    const cached = key === undefined ? undefined : this.cache!.get(key);
    if (cached) {
      if (Date.now() / 1000 <= cached.expiresAt + this.policy.clockSkewSeconds) {
        this.policy.onCacheHit?.();
        this.remember(memo, token, cached);
        return cached;
      }
      this.cache!.delete(key!);
    }
    if (token.length > MAX_TOKEN_LENGTH) {
      return reject('token_malformed', 'the access token is not a compact JWS');
    }
    let jws: DecodedJws;
    try {
      jws = decodeCompactJws(token);
    } catch {
      return reject('token_malformed', 'the access token is not a well-formed JWT');
    }
    if (!this.jwks.ready) {
      return reject('jwks_unavailable', "the issuer's signing keys are not available yet");
    }
    const first = this.verifySignature(jws);
    if (first !== UNKNOWN_KEY) return this.settle(token, key, memo, first);
    return this.jwks.refetchOnUnknownKid().then((refetched) => {
      const second = refetched ? this.verifySignature(jws) : UNKNOWN_KEY;
      if (second !== UNKNOWN_KEY) return this.settle(token, key, memo, second);
      return reject('token_key_unknown', "the access token's signing key is not in the issuer's key set");
    });
  }

  private verifySignature(jws: DecodedJws): VerifiedAccessToken | Reject | typeof UNKNOWN_KEY {
    const { header, payload } = jws;
    const { alg, kid } = header;
    if (typeof alg !== 'string' || !this.allowed.has(alg)) {
      return reject('token_algorithm', 'the access token is signed with an algorithm that is not allowed');
    }
    if (kid !== undefined && typeof kid !== 'string') {
      return reject('token_malformed', 'the access token\'s header "kid" is not a string');
    }
    const selected = this.keyRing().select(alg, kid);
    if (selected.kind === 'none') return UNKNOWN_KEY;
    if (selected.kind === 'ambiguous') {
      return reject(
        'token_key_unknown',
        "several of the issuer's keys fit the access token and it names none",
      );
    }
    if (!selected.verifySignature(jws)) {
      return reject('token_signature', "the access token's signature does not verify");
    }
    // RFC 7515 §4.1.11: an extension marked critical must be understood; the gateway understands none.
    if (header.crit !== undefined) {
      return reject('token_malformed', 'the access token\'s header "crit" names an extension not supported');
    }
    const now = Date.now() / 1000;
    return (
      claimsProblem(header, payload, this.claimPolicy, now) ??
      verifiedTokenFromPayload(payload, now, this.policy.clockSkewSeconds)
    );
  }

  private settle(
    token: string,
    key: string | undefined,
    memo: ConnectionTokenMemo | undefined,
    verified: VerifiedAccessToken | Reject,
  ): VerifiedAccessToken | Reject {
    if (isReject(verified) || this.cache === undefined || key === undefined) return verified;
    const ttl = (verified.expiresAt + this.policy.clockSkewSeconds) * 1000 - Date.now();
    if (ttl > 0) {
      this.cache.set(key, verified, { ttl });
      this.remember(memo, token, verified);
    }
    return verified;
  }

  private remember(
    memo: ConnectionTokenMemo | undefined,
    token: string,
    verified: VerifiedAccessToken,
  ): void {
    // With the cache disabled (cacheMaxEntries 0), every request is verified: no memo either.
    if (memo === undefined || this.cache === undefined) return;
    memo.token = token;
    memo.verified = verified;
    memo.owner = this;
    memo.generation = this.jwks.generation;
  }
}
