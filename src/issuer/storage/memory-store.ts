/**
 * The embedded default store: one process, everything in maps with expiry. It keeps the semantics of a
 * shared store (records stored as their codec's text, absolute expiry, versions), and each operation
 * runs without an `await` inside it, so JavaScript's single thread makes every operation atomic here.
 */
import type { ClientConfig } from '../config.js';
import {
  accessTokenKind,
  grantKind,
  refreshEntryKind,
  type RecordKind,
  type RefreshEntry,
} from './records.js';
import {
  backoffDelayMs,
  type ClientRepository,
  type GrantRecord,
  type IssuerStorage,
  type RotationOutcome,
  type Versioned,
} from './store.js';

interface Entry {
  text: string;
  version: number;
  expiresAtMs: number;
}

/** Milliseconds since the epoch; injectable so expiry can be tested without waiting. */
export type Clock = () => number;

class ExpiringMap {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly clock: Clock) {}

  entry(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAtMs <= this.clock()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
  has(key: string): boolean {
    return this.entry(key) !== undefined;
  }
  set(key: string, text: string, expiresAtMs: number, version = 1): void {
    if (expiresAtMs <= this.clock()) this.entries.delete(key);
    else this.entries.set(key, { text, version, expiresAtMs });
  }
  delete(key: string): boolean {
    const existed = this.has(key);
    this.entries.delete(key);
    return existed;
  }
  sweep(): void {
    const now = this.clock();
    for (const [k, e] of this.entries) if (e.expiresAtMs <= now) this.entries.delete(k);
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

/** The operation's result as a promise; a throw (a value outside its kind) becomes a rejection. */
function answer<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
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
  /** Index name → record ids in insertion order. */
  const indexes = new Map<string, Set<string>>();
  const stateKey = (kind: RecordKind<unknown>, id: string) => `state:${kind.name}:${id}`;
  const indexName = (kind: RecordKind<unknown>, index: string) => `${kind.name}\0${index}`;
  const sweeper = setInterval(() => {
    kv.sweep();
    for (const [name, ids] of indexes) {
      const prefix = `state:${name.split('\0')[0]!}:`;
      for (const id of ids) if (!kv.has(prefix + id)) ids.delete(id);
      if (ids.size === 0) indexes.delete(name);
    }
  }, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();

  const read = <T>(kind: RecordKind<T>, key: string): Versioned<T> | undefined => {
    const e = kv.entry(key);
    return e ? { value: kind.decode(e.text), version: e.version } : undefined;
  };
  const grantRevoked = (grantId: string) => kv.has(`grant-revoked:${grantId}`);
  const revokeGrant = (grantId: string, expiresAtMs: number) => {
    const existing = kv.entry(`grant-revoked:${grantId}`);
    kv.set(`grant-revoked:${grantId}`, '1', Math.max(expiresAtMs, existing?.expiresAtMs ?? 0));
  };
  const refreshKey = (key: string) => `refresh:${key}`;
  const refreshExpiry = (entry: RefreshEntry) => entry.record.exp * 1000;

  const storage: IssuerStorage = {
    clients: new ConfigClientRepository(options.clients),

    state: {
      put(kind, id, value, expiresAtMs) {
        return answer(() => {
          const text = kind.encode(value);
          const key = stateKey(kind, id);
          kv.set(key, text, expiresAtMs, (kv.entry(key)?.version ?? 0) + 1);
        });
      },
      create(kind, id, value, expiresAtMs, indexNames = []) {
        return answer(() => {
          const text = kind.encode(value);
          const key = stateKey(kind, id);
          if (kv.has(key)) return false;
          kv.set(key, text, expiresAtMs);
          for (const index of indexNames) {
            const name = indexName(kind, index);
            let ids = indexes.get(name);
            if (!ids) indexes.set(name, (ids = new Set()));
            ids.add(id);
          }
          return true;
        });
      },
      get(kind, id) {
        return answer(() => read(kind, stateKey(kind, id)));
      },
      consume(kind, id) {
        return answer(() => {
          const key = stateKey(kind, id);
          const e = kv.entry(key);
          kv.delete(key);
          return e ? kind.decode(e.text) : undefined;
        });
      },
      compareAndSet(kind, id, expectedVersion, value, expiresAtMs) {
        return answer(() => {
          const text = kind.encode(value);
          const key = stateKey(kind, id);
          const e = kv.entry(key);
          if (!e || e.version !== expectedVersion) return false;
          kv.set(key, text, expiresAtMs ?? e.expiresAtMs, expectedVersion + 1);
          return true;
        });
      },
      delete(kind, id) {
        return answer(() => {
          kv.delete(stateKey(kind, id));
        });
      },
      listByIndex(kind, index) {
        return answer(() => {
          const ids = indexes.get(indexName(kind, index)) ?? new Set<string>();
          const out = [];
          for (const id of ids) {
            const r = read(kind, stateKey(kind, id));
            if (r) out.push(r.value);
          }
          return out;
        });
      },
    },

    counters: {
      increment(namespace, id, expiresAtMs) {
        return answer(() => {
          const key = `counter:${namespace}:${id}`;
          const e = kv.entry(key);
          const count = (e ? Number(e.text) : 0) + 1;
          kv.set(key, String(count), e?.expiresAtMs ?? expiresAtMs);
          return count;
        });
      },
    },

    attempts: {
      beginAttempt(namespace, id, nowMs, policy) {
        return answer(() => {
          const key = `attempts:${namespace}:${id}`;
          const e = kv.entry(key);
          const was = e ? (JSON.parse(e.text) as { f: number; u: number }) : { f: 0, u: 0 };
          if (nowMs < was.u) return { allowed: false as const, retryAtMs: was.u };
          const failures = was.f + 1;
          const blockedUntilMs = nowMs + backoffDelayMs(failures, policy);
          kv.set(
            key,
            JSON.stringify({ f: failures, u: blockedUntilMs }),
            blockedUntilMs + policy.forgetAfterMs,
          );
          return { allowed: true as const, failures, blockedUntilMs };
        });
      },
      forgiveAttempt(namespace, id, blockedUntilMs, nowMs) {
        return answer(() => {
          const key = `attempts:${namespace}:${id}`;
          const e = kv.entry(key);
          if (!e) return;
          const was = JSON.parse(e.text) as { f: number; u: number };
          // Lifting a wait only shortens it: a guess stamped before `nowMs` but still in flight must
          // not meet a wait that this success would start.
          const lifted = was.u === blockedUntilMs ? Math.min(was.u, nowMs) : was.u;
          const next = { f: Math.max(0, was.f - 1), u: lifted };
          // Nothing left to remember (the forgiven guess made the entry): kept, it would be state that
          // anonymous guesses with made-up usernames could pile up for forgetAfterSeconds.
          if (next.f === 0 && next.u <= nowMs) kv.delete(key);
          else kv.set(key, JSON.stringify(next), e.expiresAtMs);
        });
      },
      resetAttempts(namespace, id) {
        return answer(() => {
          kv.delete(`attempts:${namespace}:${id}`);
        });
      },
    },

    replay: {
      firstUse(namespace, id, expiresAtMs) {
        return answer(() => {
          const key = `seen:${namespace}:${id}`;
          if (kv.has(key)) return false;
          kv.set(key, '1', expiresAtMs);
          return true;
        });
      },
    },

    grants: {
      saveGrant(grant, expiresAtMs) {
        return answer(() => {
          kv.set(`grant:${grant.grantId}`, grantKind.encode(grant), expiresAtMs);
        });
      },
      findGrant(grantId): Promise<GrantRecord | undefined> {
        return answer(() => {
          if (grantRevoked(grantId)) return undefined;
          return read(grantKind, `grant:${grantId}`)?.value;
        });
      },
      revokeGrant(grantId, expiresAtMs) {
        return answer(() => {
          revokeGrant(grantId, expiresAtMs);
        });
      },
      isGrantRevoked(grantId) {
        return answer(() => grantRevoked(grantId));
      },
    },

    refreshTokens: {
      saveRefreshToken(record) {
        return answer(() => {
          const entry: RefreshEntry = { record, state: 'active' };
          kv.set(refreshKey(record.key), refreshEntryKind.encode(entry), refreshExpiry(entry));
        });
      },
      findRefreshToken(key) {
        return answer(() => {
          const entry = read(refreshEntryKind, refreshKey(key))?.value;
          if (!entry || entry.state !== 'active' || grantRevoked(entry.record.grantId)) return undefined;
          return entry.record;
        });
      },
      rotateRefreshToken(oldKey, next): Promise<RotationOutcome> {
        return answer(() => {
          const nextEntry: RefreshEntry = { record: next, state: 'active' };
          const nextText = refreshEntryKind.encode(nextEntry);
          const entry = read(refreshEntryKind, refreshKey(oldKey))?.value;
          if (!entry || entry.state === 'revoked') return { outcome: 'unknown' };
          if (entry.state === 'rotated' || grantRevoked(entry.record.grantId)) {
            // RFC 9700 §4.14.2: a rotated refresh token presented again means one of the two holders is
            // an attacker; revoke the whole family.
            revokeGrant(entry.record.grantId, refreshExpiry(entry));
            return { outcome: 'reused', previous: entry.record };
          }
          const rotated: RefreshEntry = { record: entry.record, state: 'rotated' };
          kv.set(refreshKey(oldKey), refreshEntryKind.encode(rotated), refreshExpiry(entry));
          kv.set(refreshKey(next.key), nextText, refreshExpiry(nextEntry));
          return { outcome: 'rotated', previous: entry.record };
        });
      },
      revokeRefreshToken(key) {
        return answer(() => {
          const entry = read(refreshEntryKind, refreshKey(key))?.value;
          if (entry) {
            const revoked: RefreshEntry = { record: entry.record, state: 'revoked' };
            kv.set(refreshKey(key), refreshEntryKind.encode(revoked), refreshExpiry(entry));
          }
        });
      },
    },

    accessTokens: {
      rememberAccessToken(record) {
        return answer(() => {
          kv.set(`access:${record.jti}`, accessTokenKind.encode(record), record.exp * 1000);
        });
      },
      findAccessToken(jti) {
        return answer(() => read(accessTokenKind, `access:${jti}`)?.value);
      },
      revokeAccessToken(jti, expiresAtMs) {
        return answer(() => {
          kv.set(`access-revoked:${jti}`, '1', expiresAtMs);
        });
      },
      isAccessTokenRevoked(jti) {
        return answer(() => kv.has(`access-revoked:${jti}`));
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
