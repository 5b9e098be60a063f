/**
 * The issuer's storage, behind interfaces shaped for a shared store (Redis) as much as for memory:
 * every method is async, every record has a TTL, values are JSON (the memory store round-trips them
 * through JSON too, so no code can depend on object identity), and every "check then change" is one
 * atomic method (consume-once, first-use, rotate, update), so replicas never race.
 *
 * Token values never reach the store: callers key records by `tokenKey(value)` (SHA-256), so a store
 * dump does not hand out usable tokens.
 */
import { createHash } from 'node:crypto';
import type { ClientConfig } from '../config.js';

/** JSON-serialisable values (what a Redis store can hold). */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json | undefined };

/** The storage key of a bearer value (refresh token, code, request_uri, auth_req_id): SHA-256, base64url. */
export function tokenKey(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Registered clients (from configuration today; a database or registration endpoint could back it). */
export interface ClientRepository {
  findClient(clientId: string): Promise<ClientConfig | undefined>;
  allClients(): Promise<ClientConfig[]>;
}

/**
 * Short-lived flow state by kind: issue 6 keeps authorization codes (`code`), PAR request_uris (`par`),
 * consents (`consent`) and login sessions here; issue 7 keeps pending CIBA requests (`ciba`). A record
 * may be listed under index keys (e.g. `user:alice`) so a page can list a user's pending requests.
 */
export interface StateStore {
  /** Creates a record; resolves false (and changes nothing) when the id already exists. */
  create(kind: string, id: string, value: Json, ttlSeconds: number, indexes?: string[]): Promise<boolean>;
  get<T extends Json>(kind: string, id: string): Promise<T | undefined>;
  /** Atomic get-and-delete: of two concurrent callers exactly one gets the value (codes, request_uris). */
  consume<T extends Json>(kind: string, id: string): Promise<T | undefined>;
  /**
   * Atomic read-modify-write (Redis: WATCH/MULTI or a Lua script). `change` gets the current value and
   * returns the new one, or `undefined` to leave the record as it is; the TTL is kept unless
   * `ttlSeconds` is returned. Resolves with what is stored afterwards (undefined if there is no record).
   */
  update<T extends Json>(
    kind: string,
    id: string,
    change: (current: T) => { value: T; ttlSeconds?: number } | undefined,
  ): Promise<T | undefined>;
  delete(kind: string, id: string): Promise<void>;
  /** Ids of live records listed under `index` (expired ones are left out). */
  listByIndex(kind: string, index: string): Promise<string[]>;
}

/** Single-use identifiers: client assertion `jti`s (RFC 7523 §3 item 7), request object `jti`s. */
export interface ReplayCache {
  /** Resolves true the first time `id` is seen in `namespace` within `ttlSeconds`, false afterwards. */
  firstUse(namespace: string, id: string, ttlSeconds: number): Promise<boolean>;
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
  /** Extra claims later grants need on refresh (e.g. the CIBA auth_req_id). */
  claims?: { [key: string]: Json };
  [key: string]: Json | undefined;
}

/**
 * Grants and their revocation. Revoking a grant makes every token issued from it inactive: its refresh
 * tokens (family revocation) and, at introspection, its access tokens (RFC 6819 §5.2.2.3; RFC 6749
 * §4.1.2 code reuse; RFC 9700 §4.14.2 refresh-token reuse).
 */
export interface GrantStore {
  saveGrant(grant: GrantRecord, ttlSeconds: number): Promise<void>;
  findGrant(grantId: string): Promise<GrantRecord | undefined>;
  revokeGrant(grantId: string, ttlSeconds: number): Promise<void>;
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
  exp: number;
  /** Thumbprint of the certificate the refresh token was issued over, if any. */
  x5tS256?: string;
  [key: string]: Json | undefined;
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
   * Atomically marks `oldKey` as used and stores `next`; if `oldKey` was already used, revokes its grant
   * instead and stores nothing.
   */
  rotateRefreshToken(oldKey: string, next: RefreshTokenRecord): Promise<RotationOutcome>;
  revokeRefreshToken(key: string): Promise<void>;
}

export interface AccessTokenRecord {
  jti: string;
  clientId: string;
  grantId?: string;
  /** Unix seconds. */
  exp: number;
  [key: string]: Json | undefined;
}

/** Issued access tokens by `jti` (for grant-wide revocation) and revoked ones (RFC 7009). */
export interface AccessTokenStore {
  rememberAccessToken(record: AccessTokenRecord): Promise<void>;
  findAccessToken(jti: string): Promise<AccessTokenRecord | undefined>;
  /** Kept until the token's own expiry, after which the JWT is dead anyway. */
  revokeAccessToken(jti: string, ttlSeconds: number): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;
}

export interface IssuerStorage {
  clients: ClientRepository;
  state: StateStore;
  replay: ReplayCache;
  grants: GrantStore;
  refreshTokens: RefreshTokenStore;
  accessTokens: AccessTokenStore;
  /** True while the backing store answers (/readyz). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}
