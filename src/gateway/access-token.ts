/**
 * JWT access-token validation (RFC 9068, RFC 8725), with a cache of successful verifications.
 *
 * Keys come only from the configured JWKS (never from `jku`, `x5u`, `jwk` or `x5c` headers: see
 * signing-keys.ts for the selection rules); the algorithm allow-list excludes `none` and HMAC, so a token
 * "signed" with the issuer's public key as an HMAC secret is refused before any key is chosen. The
 * signature is verified synchronously (fast-jwt over node:crypto, prepared once per key); the header is
 * decoded by jose; every claim rule below has exactly one rejection reason.
 */
import { hash } from 'node:crypto';
import { decodeProtectedHeader, type JWTPayload } from 'jose';
import { TokenError } from 'fast-jwt';
import { LRUCache } from 'lru-cache';
import type { JwksCache } from './jwks-cache.js';
import { reject, type Reject } from './rejections.js';
import { KeyRing } from './signing-keys.js';

/** What the rest of the pipeline needs from a verified token, computed once per token. */
export interface VerifiedAccessToken {
  clientId: string;
  subject: string;
  /** The `scope` claim as issued (space separated), '' when absent. */
  scope: string;
  scopes: ReadonlySet<string>;
  /** RFC 8705 §3.1 `cnf."x5t#S256"`, undefined when the token is not certificate-bound. */
  boundThumbprint: string | undefined;
  /** `exp`, unix seconds. */
  expiresAt: number;
}

/**
 * The last token verified on one TLS connection (steady clients present the same token on every request
 * of a keep-alive connection): a string comparison then replaces hashing and the shared cache's lookup.
 * It holds the one token the connection is using anyway, and is dropped with the connection.
 */
export interface ConnectionTokenMemo {
  token?: string;
  verified?: VerifiedAccessToken;
  /** The verifier and key-set generation that verified it: a reload or a JWKS change invalidates it. */
  owner?: AccessTokenVerifier;
  generation?: number;
}

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
/** Claims RFC 9068 §2.2 requires that the gateway checks itself (client_id and sub: see below). */
const REQUIRED_CLAIMS = ['exp', 'iss', 'aud'] as const;

/** fast-jwt's error codes, 1:1 to rejection reasons. Anything unexpected is a malformed token (fail closed). */
export function rejectionForVerifyError(err: unknown): Reject {
  const code = err instanceof TokenError ? err.code : undefined;
  switch (code) {
    case TokenError.codes.invalidAlgorithm:
      return reject('token_algorithm', 'the access token is signed with an algorithm that is not allowed');
    case TokenError.codes.invalidSignature:
    case TokenError.codes.missingSignature:
    case TokenError.codes.verifyError:
      return reject('token_signature', "the access token's signature does not verify");
    default:
      return reject('token_malformed', 'the access token is not a well-formed JWT');
  }
}

/** RFC 9068 §2.1 `typ`: `at+jwt`, also written `application/at+jwt` (media types are case-insensitive). */
function isAccessTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return t === 'at+jwt' || t === 'application/at+jwt';
}

function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && accepted.includes(a));
}

/**
 * The header and registered-claim rules of RFC 9068 §4 for a token whose signature verified, in the order
 * a reader checks them; undefined when they hold. Pure (now is given).
 */
export function claimsProblem(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  policy: { issuer: string; audience: readonly string[]; clockSkewSeconds: number },
  nowSeconds: number,
): Reject | undefined {
  if (!isAccessTokenTyp(header.typ)) {
    return header.typ === undefined
      ? reject('token_type', 'the access token lacks the header "typ" (at+jwt)')
      : reject('token_type', 'the access token\'s header "typ" is not at+jwt');
  }
  for (const claim of REQUIRED_CLAIMS) {
    if (payload[claim] === undefined)
      return reject('token_claims', `the access token lacks the claim "${claim}"`);
  }
  if (payload.iss !== policy.issuer)
    return reject('token_issuer', 'the access token\'s claim "iss" is not acceptable');
  if (!audienceMatches(payload.aud, policy.audience)) {
    return reject('token_audience', 'the access token\'s claim "aud" is not acceptable');
  }
  const skew = policy.clockSkewSeconds;
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    const v = payload[claim];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
      return reject('token_claims', `the access token's claim "${claim}" is not a number`);
    }
  }
  if ((payload.exp as number) <= nowSeconds - skew)
    return reject('token_expired', 'the access token has expired');
  if (typeof payload.nbf === 'number' && payload.nbf > nowSeconds + skew) {
    return reject('token_not_yet_valid', 'the access token\'s claim "nbf" is in the future');
  }
  return undefined;
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const v = payload[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** RFC 9068 §2.2 claims the gateway relies on, beyond the rules of `claimsProblem`. Pure. */
export function verifiedTokenFromPayload(
  payload: JWTPayload,
  nowSeconds: number,
  skewSeconds: number,
): VerifiedAccessToken | Reject {
  const clientId = stringClaim(payload, 'client_id');
  if (clientId === undefined) return reject('token_claims', 'the access token lacks the claim "client_id"');
  const subject = stringClaim(payload, 'sub');
  if (subject === undefined) return reject('token_claims', 'the access token lacks the claim "sub"');
  // `claimsProblem` checks iat's type; an iat in the future is refused too (RFC 9068 §4: honour iat).
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds + skewSeconds) {
    return reject('token_not_yet_valid', 'the access token\'s claim "iat" is in the future');
  }
  const scope = payload.scope ?? '';
  if (typeof scope !== 'string')
    return reject('token_claims', 'the access token\'s claim "scope" is not a string');
  const cnf = payload.cnf;
  const bound =
    typeof cnf === 'object' &&
    cnf !== null &&
    typeof (cnf as Record<string, unknown>)['x5t#S256'] === 'string'
      ? ((cnf as Record<string, unknown>)['x5t#S256'] as string)
      : undefined;
  return {
    clientId,
    subject,
    scope,
    scopes: new Set(scope.split(' ').filter((s) => s !== '')),
    boundThumbprint: bound,
    expiresAt: payload.exp!,
  };
}

export function isReject(v: VerifiedAccessToken | Reject): v is Reject {
  return 'reason' in v;
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

export class AccessTokenVerifier {
  private readonly cache: LRUCache<string, VerifiedAccessToken> | undefined;
  private readonly allowed: ReadonlySet<string>;
  private readonly claimPolicy: { issuer: string; audience: readonly string[]; clockSkewSeconds: number };
  private ring: KeyRing | undefined;
  private ringGeneration = -1;

  constructor(
    private readonly policy: AccessTokenPolicy,
    private readonly jwks: JwksCache,
  ) {
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
    if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
      return reject('token_malformed', 'the access token is not a compact JWS');
    }
    if (!this.jwks.ready) {
      return reject('jwks_unavailable', "the issuer's signing keys are not available yet");
    }
    const first = this.verifySignature(token);
    if (first !== UNKNOWN_KEY) return this.settle(token, key, memo, first);
    return this.jwks.refetchOnUnknownKid().then((refetched) => {
      const second = refetched ? this.verifySignature(token) : UNKNOWN_KEY;
      if (second !== UNKNOWN_KEY) return this.settle(token, key, memo, second);
      return reject('token_key_unknown', "the access token's signing key is not in the issuer's key set");
    });
  }

  private verifySignature(token: string): VerifiedAccessToken | Reject | typeof UNKNOWN_KEY {
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return reject('token_malformed', 'the access token is not a well-formed JWT');
    }
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
    let decoded: { header: Record<string, unknown>; payload: Record<string, unknown> };
    try {
      decoded = selected.verify(token);
    } catch (err) {
      return rejectionForVerifyError(err);
    }
    const now = Date.now() / 1000;
    return (
      claimsProblem(decoded.header, decoded.payload, this.claimPolicy, now) ??
      verifiedTokenFromPayload(decoded.payload, now, this.policy.clockSkewSeconds)
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
