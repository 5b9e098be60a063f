/**
 * The issuer's storage contract. Every operation is atomic by itself, so a flow never reads, decides and
 * writes back in three steps: a "check then change" is one operation (create-if-absent, consume,
 * first-use, compare-and-set on a version, counter increment, refresh rotation). Each operation is small
 * enough for one Redis command or Lua script; none takes a closure.
 *
 * Expiry is an absolute time in unix milliseconds (`expiresAtMs`): flows know their deadlines (a code's
 * `expiresAt`, a token's `exp`), and an absolute time does not drift between the caller's clock read and
 * the store's write. Records are written and read through a codec per kind (`recordKind`), so what comes
 * back from a shared store is validated, never cast.
 *
 * Token values never reach the store: callers key records by `tokenKey(value)` (SHA-256), so a store
 * dump does not hand out usable tokens.
 */
import { createHash } from 'node:crypto';
import type { ClaimsRequest } from '../authorize/claims-request.js';
import type { ClientConfig } from '../config.js';
import type { AccessTokenClaims } from '../tokens/access-token.js';
import type { RecordKind } from './records.js';

export type { RecordKind } from './records.js';

/** The storage key of a bearer value (refresh token, code, request_uri, auth_req_id): SHA-256, base64url. */
export function tokenKey(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Registered clients (from configuration today; a database or registration endpoint could back it). */
export interface ClientRepository {
  findClient(clientId: string): Promise<ClientConfig | undefined>;
  allClients(): Promise<ClientConfig[]>;
}

/** A record as stored: its value and its version (1 when created, +1 on every write). */
export interface Versioned<T> {
  value: T;
  version: number;
}

/**
 * Short-lived flow state by kind: authorization codes, PAR request_uris, interactions, consents,
 * browser sessions, pending CIBA requests. A record may be listed under index keys (e.g. `user:alice`)
 * so a page can list a user's pending requests.
 */
export interface StateStore {
  /** Upsert: stores `value` until `expiresAtMs`, whether or not the record existed. */
  put<T>(kind: RecordKind<T>, id: string, value: T, expiresAtMs: number): Promise<void>;
  /** Create-if-absent: resolves false (and changes nothing) when the id already exists. */
  create<T>(
    kind: RecordKind<T>,
    id: string,
    value: T,
    expiresAtMs: number,
    indexes?: readonly string[],
  ): Promise<boolean>;
  get<T>(kind: RecordKind<T>, id: string): Promise<Versioned<T> | undefined>;
  /** Get-and-delete: of concurrent callers exactly one gets the value (codes, request_uris, interactions). */
  consume<T>(kind: RecordKind<T>, id: string): Promise<T | undefined>;
  /**
   * Writes `value` only if the record exists with version `expectedVersion` (it then has
   * `expectedVersion + 1`); the expiry is kept unless `expiresAtMs` is given. Resolves whether it wrote.
   */
  compareAndSet<T>(
    kind: RecordKind<T>,
    id: string,
    expectedVersion: number,
    value: T,
    expiresAtMs?: number,
  ): Promise<boolean>;
  delete<T>(kind: RecordKind<T>, id: string): Promise<void>;
  /** Live records listed under `index`, in no particular order (expired and deleted ones are left out). */
  listByIndex<T>(kind: RecordKind<T>, index: string): Promise<T[]>;
}

/** Counters that live until an absolute time: failed sign-ins of one interaction, rate limits. */
export interface CounterStore {
  /**
   * Adds 1 to counter `id` of `namespace` and resolves the new count. The first increment sets the
   * counter's expiry to `expiresAtMs`; later ones keep it.
   */
  increment(namespace: string, id: string, expiresAtMs: number): Promise<number>;
}

/**
 * How failed attempts of one subject (a user, a source) slow the next attempt down: after
 * `failuresBeforeDelay` consecutive failures the next attempt waits `firstDelayMs`, and each further
 * failure doubles the wait up to `maxDelayMs` (NIST SP 800-63B §5.2.2: throttling rather than long
 * lockouts).
 */
export interface BackoffPolicy {
  failuresBeforeDelay: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** Failures are forgotten this long after the last one (and the record with them). */
  forgetAfterMs: number;
}

/** The wait after the `failures`-th consecutive failure (0 while within the free ones). */
export function backoffDelayMs(failures: number, policy: BackoffPolicy): number {
  if (failures < policy.failuresBeforeDelay) return 0;
  // 2^30 is far past any cap: the exponent is bounded so the product stays a finite number.
  const doublings = Math.min(failures - policy.failuresBeforeDelay, 30);
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** doublings);
}

export type AttemptDecision =
  /** Counted as a failure until taken back; `blockedUntilMs` is the wait this attempt set. */
  | { allowed: true; failures: number; blockedUntilMs: number }
  /** Not counted: an attempt while blocked changes nothing. */
  | { allowed: false; retryAtMs: number };

/**
 * Guess counters of sign-ins and user_codes. An attempt is counted as a failure before the secret is
 * checked, in the same operation that checks the block, so concurrent guesses cannot slip past it;
 * a success then resets the user or takes the one attempt back from the source.
 */
export interface AttemptStore {
  /** Refused while `nowMs` is before the block; otherwise counts one failure and sets the wait it earns. */
  beginAttempt(namespace: string, id: string, nowMs: number, policy: BackoffPolicy): Promise<AttemptDecision>;
  /**
   * Takes back one counted attempt that succeeded: one failure less, and the wait it set lifted unless
   * a later failure moved it (`blockedUntilMs` is what `beginAttempt` answered). Lifting only ever
   * shortens a wait: a concurrent guess stamped before `nowMs` is not refused by it.
   */
  forgiveAttempt(namespace: string, id: string, blockedUntilMs: number, nowMs: number): Promise<void>;
  /** Forgets every failure of `id` (a successful sign-in of the user). */
  resetAttempts(namespace: string, id: string): Promise<void>;
}

/** Single-use identifiers: client assertion `jti`s (RFC 7523 §3 item 7), request object `jti`s. */
export interface ReplayCache {
  /** Resolves true the first time `id` is seen in `namespace` before `expiresAtMs`, false afterwards. */
  firstUse(namespace: string, id: string, expiresAtMs: number): Promise<boolean>;
}

/** A grant: what one authorization (a code exchange, a CIBA approval) gave one client. */
export interface GrantRecord {
  grantId: string;
  clientId: string;
  sub: string;
  scope: string;
  /** The grant type that created it. */
  grantType: string;
  /** Unix seconds. */
  authTime?: number;
  acr?: string;
  /** The OIDC claims request of the authorization (for ID tokens on refresh, and userinfo). */
  claimsRequest?: ClaimsRequest;
  /** The CIBA auth_req_id the grant came from. */
  authReqId?: string;
}

/**
 * Grants and their revocation. Revoking a grant makes every token issued from it inactive: its refresh
 * tokens (family revocation) and, at introspection, its access tokens (RFC 6819 §5.2.2.3; RFC 6749
 * §4.1.2 code reuse; RFC 9700 §4.14.2 refresh-token reuse).
 */
export interface GrantStore {
  saveGrant(grant: GrantRecord, expiresAtMs: number): Promise<void>;
  findGrant(grantId: string): Promise<GrantRecord | undefined>;
  /** Remembered until `expiresAtMs` (the last moment a token of the grant could still be presented). */
  revokeGrant(grantId: string, expiresAtMs: number): Promise<void>;
  isGrantRevoked(grantId: string): Promise<boolean>;
}

export interface RefreshTokenRecord {
  /** `tokenKey(value)` */
  key: string;
  grantId: string;
  clientId: string;
  sub: string;
  scope: string;
  /** Unix seconds. */
  iat: number;
  /** Unix seconds; the record expires then. */
  exp: number;
  /** The DPoP key (RFC 7638 thumbprint) the grant's access tokens are bound to, if any. */
  dpopJkt?: string;
}

export type RotationOutcome =
  | { outcome: 'rotated'; previous: RefreshTokenRecord }
  /** The token had already been rotated: its grant (the family) is now revoked. */
  | { outcome: 'reused'; previous: RefreshTokenRecord }
  | { outcome: 'unknown' };

/** Refresh tokens: bound to the client, rotated on use, reuse revokes the family (the grant). */
export interface RefreshTokenStore {
  saveRefreshToken(record: RefreshTokenRecord): Promise<void>;
  /** The record if the token is active (not rotated, not revoked, grant not revoked, not expired). */
  findRefreshToken(key: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * One transition of the old token's record: active → rotated (and `next` stored); if `oldKey` was
   * already rotated or its grant revoked, revokes the grant instead and stores nothing.
   */
  rotateRefreshToken(oldKey: string, next: RefreshTokenRecord): Promise<RotationOutcome>;
  revokeRefreshToken(key: string): Promise<void>;
}

export interface AccessTokenRecord {
  jti: string;
  clientId: string;
  grantId?: string;
  /** Unix seconds; the record expires then. */
  exp: number;
  /** The claims of an opaque access token (stored under the token's hash, read by introspection). */
  opaque?: AccessTokenClaims;
}

/** Issued access tokens by `jti` (for grant-wide revocation) and revoked ones (RFC 7009). */
export interface AccessTokenStore {
  rememberAccessToken(record: AccessTokenRecord): Promise<void>;
  findAccessToken(jti: string): Promise<AccessTokenRecord | undefined>;
  /** Kept until `expiresAtMs` (the token's own expiry), after which the JWT is dead anyway. */
  revokeAccessToken(jti: string, expiresAtMs: number): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;
}

export interface IssuerStorage {
  clients: ClientRepository;
  state: StateStore;
  counters: CounterStore;
  attempts: AttemptStore;
  replay: ReplayCache;
  grants: GrantStore;
  refreshTokens: RefreshTokenStore;
  accessTokens: AccessTokenStore;
  /** True while the backing store answers (/readyz). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}
