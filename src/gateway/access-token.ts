/**
 * JWT access-token validation (RFC 9068, RFC 8725), with a cache of successful verifications.
 *
 * Keys come only from the configured JWKS (never from `jku`, `x5u`, `jwk` or `x5c` headers: jose's local
 * JWK set selects by `kid`/`alg` and ignores them); the algorithm allow-list excludes `none` and HMAC, so a
 * token "signed" with the issuer's public key as an HMAC secret is refused before any key is chosen.
 * Each jose error code maps to exactly one rejection reason.
 */
import { errors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import type { JwksCache } from './jwks-cache.js';
import { reject, type Reject, type RejectionReason } from './rejections.js';

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

const CLAIM_REASONS: Record<string, RejectionReason> = {
  typ: 'token_type',
  iss: 'token_issuer',
  aud: 'token_audience',
  nbf: 'token_not_yet_valid',
  iat: 'token_not_yet_valid',
  exp: 'token_expired',
};

/** jose's typed errors, 1:1 to rejection reasons. Anything unexpected is a malformed token (fail closed). */
export function rejectionForJoseError(err: unknown): Reject {
  if (err instanceof errors.JWTExpired) return reject('token_expired', 'the access token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const missing = err.reason === 'missing';
    const reason = missing ? 'token_claims' : (CLAIM_REASONS[err.claim] ?? 'token_claims');
    const what = err.claim === 'typ' ? 'header "typ"' : `claim "${err.claim}"`;
    return reject(
      reason,
      missing ? `the access token lacks the ${what}` : `the access token's ${what} is not acceptable`,
    );
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return reject('token_algorithm', 'the access token is signed with an algorithm that is not allowed');
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return reject('token_key_unknown', "the access token's signing key is not in the issuer's key set");
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return reject('token_signature', "the access token's signature does not verify");
  }
  return reject('token_malformed', 'the access token is not a well-formed JWT');
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const v = payload[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** RFC 9068 §2.2 claims the gateway relies on, beyond what jose checked. Pure. */
export function verifiedTokenFromPayload(
  payload: JWTPayload,
  nowSeconds: number,
  skewSeconds: number,
): VerifiedAccessToken | Reject {
  const clientId = stringClaim(payload, 'client_id');
  if (clientId === undefined) return reject('token_claims', 'the access token lacks the claim "client_id"');
  const subject = stringClaim(payload, 'sub');
  if (subject === undefined) return reject('token_claims', 'the access token lacks the claim "sub"');
  // jose checks iat's type but only checks it is in the past with maxTokenAge (RFC 9068 §4: honour iat).
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

export class AccessTokenVerifier {
  private readonly cache: LRUCache<string, VerifiedAccessToken> | undefined;
  private readonly options: Parameters<typeof jwtVerify>[2];

  constructor(
    private readonly policy: AccessTokenPolicy,
    private readonly jwks: JwksCache,
  ) {
    this.options = {
      issuer: policy.issuer,
      audience: policy.audience,
      algorithms: policy.algorithms,
      typ: 'at+jwt', // RFC 9068 §2.1; jose also accepts application/at+jwt
      clockTolerance: policy.clockSkewSeconds,
      requiredClaims: ['exp', 'iss', 'aud'],
    };
    if (policy.cacheMaxEntries > 0) {
      this.cache = new LRUCache({ max: policy.cacheMaxEntries });
      // A key removed from the issuer's set must stop accepting its tokens at once.
      jwks.onChange(() => this.cache?.clear());
    }
  }

  /**
   * A verified token or the reason it is refused. Synchronous when the token was verified before and is
   * still within its lifetime: repeated tokens skip signature verification (the hot path).
   */
  verify(token: string): VerifiedAccessToken | Reject | Promise<VerifiedAccessToken | Reject> {
    const cached = this.cache?.get(token);
    if (cached) {
      if (Date.now() / 1000 <= cached.expiresAt + this.policy.clockSkewSeconds) {
        this.policy.onCacheHit?.();
        return cached;
      }
      this.cache!.delete(token);
    }
    if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
      return reject('token_malformed', 'the access token is not a compact JWS');
    }
    if (!this.jwks.ready) {
      return reject('jwks_unavailable', "the issuer's signing keys are not available yet");
    }
    return this.verifySignature(token, true);
  }

  private async verifySignature(token: string, mayRefetch: boolean): Promise<VerifiedAccessToken | Reject> {
    const selector = this.jwks.keySelector!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, selector, this.options));
    } catch (err) {
      if (mayRefetch && err instanceof errors.JWKSNoMatchingKey && (await this.jwks.refetchOnUnknownKid())) {
        return this.verifySignature(token, false);
      }
      return rejectionForJoseError(err);
    }
    const verified = verifiedTokenFromPayload(payload, Date.now() / 1000, this.policy.clockSkewSeconds);
    if (!isReject(verified) && this.cache) {
      const ttl = (verified.expiresAt + this.policy.clockSkewSeconds) * 1000 - Date.now();
      if (ttl > 0) this.cache.set(token, verified, { ttl });
    }
    return verified;
  }
}
