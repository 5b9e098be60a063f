/**
 * The embedded default store: one process, everything in maps with expiry. It keeps the semantics a
 * Redis store will have (JSON values, TTLs, atomic single-use operations; JavaScript's single thread
 * makes each method atomic here), so code written against it behaves the same on a shared store.
 */
import type { ClientConfig } from '../config.js';
import type {
  AccessTokenRecord,
  ClientRepository,
  GrantRecord,
  IssuerStorage,
  Json,
  RefreshTokenRecord,
  RotationOutcome,
} from './store.js';

interface Entry {
  json: string;
  expiresAt: number;
}

/** Milliseconds since the epoch; injectable so expiry can be tested without waiting. */
export type Clock = () => number;

class ExpiringMap {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly clock: Clock) {}

  get(key: string): Json | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    return JSON.parse(e.json) as Json;
  }
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }
  set(key: string, value: Json, ttlSeconds: number): void {
    this.entries.set(key, { json: JSON.stringify(value), expiresAt: this.clock() + ttlSeconds * 1000 });
  }
  /** Replaces the value, keeping the expiry. */
  replace(key: string, value: Json): void {
    const e = this.entries.get(key);
    if (e) e.json = JSON.stringify(value);
  }
  remainingSeconds(key: string): number {
    const e = this.entries.get(key);
    return e ? Math.max(1, Math.ceil((e.expiresAt - this.clock()) / 1000)) : 0;
  }
  delete(key: string): void {
    this.entries.delete(key);
  }
  sweep(): void {
    const now = this.clock();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
  get size(): number {
    return this.entries.size;
  }
}

export class ConfigClientRepository implements ClientRepository {
  private readonly byId: Map<string, ClientConfig>;
  constructor(clients: readonly ClientConfig[]) {
    this.byId = new Map(clients.map((c) => [c.clientId, c]));
  }
  findClient(clientId: string): Promise<ClientConfig | undefined> {
    return Promise.resolve(this.byId.get(clientId));
  }
  allClients(): Promise<ClientConfig[]> {
    return Promise.resolve([...this.byId.values()]);
  }
}

interface RefreshEntry {
  record: RefreshTokenRecord;
  state: 'active' | 'rotated' | 'revoked';
}

export interface MemoryStorageOptions {
  clients: readonly ClientConfig[];
  clock?: Clock;
  /** How often expired entries are dropped (they are ignored on read regardless). */
  sweepIntervalMs?: number;
}

export function createMemoryStorage(options: MemoryStorageOptions): IssuerStorage {
  const clock = options.clock ?? Date.now;
  const kv = new ExpiringMap(clock);
  const indexes = new Map<string, Set<string>>();
  const nowSeconds = () => Math.floor(clock() / 1000);
  const stateKey = (kind: string, id: string) => `state:${kind}:${id}`;
  const sweeper = setInterval(() => {
    kv.sweep();
    for (const [name, ids] of indexes) {
      const kind = name.split('\0')[0]!;
      for (const id of ids) if (!kv.has(stateKey(kind, id))) ids.delete(id);
      if (ids.size === 0) indexes.delete(name);
    }
  }, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();

  const grantRevoked = (grantId: string) => kv.has(`grant-revoked:${grantId}`);
  const revokeGrant = (grantId: string, ttlSeconds: number) =>
    kv.set(`grant-revoked:${grantId}`, true, Math.max(1, ttlSeconds));

  const storage: IssuerStorage = {
    clients: new ConfigClientRepository(options.clients),

    state: {
      create(kind, id, value, ttlSeconds, indexNames = []) {
        const key = stateKey(kind, id);
        if (kv.has(key)) return Promise.resolve(false);
        kv.set(key, value, ttlSeconds);
        for (const index of indexNames) {
          const name = `${kind}\0${index}`;
          let ids = indexes.get(name);
          if (!ids) indexes.set(name, (ids = new Set()));
          ids.add(id);
        }
        return Promise.resolve(true);
      },
      get<T extends Json>(kind: string, id: string) {
        return Promise.resolve(kv.get(stateKey(kind, id)) as T | undefined);
      },
      consume<T extends Json>(kind: string, id: string) {
        const key = stateKey(kind, id);
        const value = kv.get(key) as T | undefined;
        kv.delete(key);
        return Promise.resolve(value);
      },
      update<T extends Json>(
        kind: string,
        id: string,
        change: (current: T) => { value: T; ttlSeconds?: number } | undefined,
      ) {
        const key = stateKey(kind, id);
        const current = kv.get(key) as T | undefined;
        if (current === undefined) return Promise.resolve(undefined);
        const next = change(current);
        if (!next) return Promise.resolve(current);
        if (next.ttlSeconds !== undefined) kv.set(key, next.value, next.ttlSeconds);
        else kv.replace(key, next.value);
        return Promise.resolve(kv.get(key) as T | undefined);
      },
      delete(kind, id) {
        kv.delete(stateKey(kind, id));
        return Promise.resolve();
      },
      listByIndex(kind, index) {
        const ids = indexes.get(`${kind}\0${index}`) ?? new Set<string>();
        return Promise.resolve([...ids].filter((id) => kv.has(stateKey(kind, id))));
      },
    },

    replay: {
      firstUse(namespace, id, ttlSeconds) {
        const key = `seen:${namespace}:${id}`;
        if (kv.has(key)) return Promise.resolve(false);
        kv.set(key, true, Math.max(1, ttlSeconds));
        return Promise.resolve(true);
      },
    },

    grants: {
      saveGrant(grant, ttlSeconds) {
        kv.set(`grant:${grant.grantId}`, grant, ttlSeconds);
        return Promise.resolve();
      },
      findGrant(grantId) {
        if (grantRevoked(grantId)) return Promise.resolve(undefined);
        return Promise.resolve(kv.get(`grant:${grantId}`) as GrantRecord | undefined);
      },
      revokeGrant(grantId, ttlSeconds) {
        revokeGrant(grantId, ttlSeconds);
        return Promise.resolve();
      },
      isGrantRevoked(grantId) {
        return Promise.resolve(grantRevoked(grantId));
      },
    },

    refreshTokens: {
      saveRefreshToken(record) {
        const entry: RefreshEntry = { record, state: 'active' };
        kv.set(`refresh:${record.key}`, entry as unknown as Json, Math.max(1, record.exp - nowSeconds()));
        return Promise.resolve();
      },
      findRefreshToken(key) {
        const entry = kv.get(`refresh:${key}`) as RefreshEntry | undefined;
        if (!entry || entry.state !== 'active' || grantRevoked(entry.record.grantId))
          return Promise.resolve(undefined);
        return Promise.resolve(entry.record);
      },
      rotateRefreshToken(oldKey, next): Promise<RotationOutcome> {
        const key = `refresh:${oldKey}`;
        const entry = kv.get(key) as RefreshEntry | undefined;
        if (!entry || entry.state === 'revoked') return Promise.resolve({ outcome: 'unknown' });
        if (entry.state === 'rotated' || grantRevoked(entry.record.grantId)) {
          // RFC 9700 §4.14.2: a rotated refresh token presented again means one of the two holders is
          // an attacker; revoke the whole family.
          revokeGrant(entry.record.grantId, Math.max(1, entry.record.exp - nowSeconds()));
          return Promise.resolve({ outcome: 'reused', previous: entry.record });
        }
        kv.replace(key, { record: entry.record, state: 'rotated' });
        kv.set(
          `refresh:${next.key}`,
          { record: next, state: 'active' },
          Math.max(1, next.exp - nowSeconds()),
        );
        return Promise.resolve({ outcome: 'rotated', previous: entry.record });
      },
      revokeRefreshToken(key) {
        const entry = kv.get(`refresh:${key}`) as RefreshEntry | undefined;
        if (entry) kv.replace(`refresh:${key}`, { ...entry, state: 'revoked' });
        return Promise.resolve();
      },
    },

    accessTokens: {
      rememberAccessToken(record: AccessTokenRecord) {
        kv.set(`access:${record.jti}`, record, Math.max(1, record.exp - nowSeconds()));
        return Promise.resolve();
      },
      findAccessToken(jti) {
        return Promise.resolve(kv.get(`access:${jti}`) as AccessTokenRecord | undefined);
      },
      revokeAccessToken(jti, ttlSeconds) {
        kv.set(`access-revoked:${jti}`, true, Math.max(1, ttlSeconds));
        return Promise.resolve();
      },
      isAccessTokenRevoked(jti) {
        return Promise.resolve(kv.has(`access-revoked:${jti}`));
      },
    },

    healthy: () => Promise.resolve(true),
    close() {
      clearInterval(sweeper);
      return Promise.resolve();
    },
  };
  return storage;
}
