/**
 * Where pending CIBA requests live. The interface is shaped for Redis so that any replica can serve the
 * poll, the device page and the notification:
 *   - `insert`          SET key value EX ttl NX (+ SADD on the user's index with the same expiry)
 *   - `get`             GET
 *   - `replace`         a Lua compare-and-set on `version` that keeps the TTL (SET ... KEEPTTL)
 *   - `listBySubject`   SMEMBERS of the user's index, then MGET (dangling members are skipped)
 *   - `claimOnce`       SET key 1 EX ttl NX (request-object `jti` replay cache)
 * The in-memory implementation below is the embedded default and behaves the same way.
 */
import type { CibaRequestRecord } from './pending-request.js';

export interface CibaRequestStore {
  /** Stores a new record until `retainUntil` (unix seconds); false if the id exists. */
  insert(record: CibaRequestRecord, retainUntil: number): Promise<boolean>;
  get(authReqId: string): Promise<CibaRequestRecord | undefined>;
  /** Writes `next` iff the stored record still has version `next.version - 1`; false otherwise. */
  replace(next: CibaRequestRecord): Promise<boolean>;
  listBySubject(subject: string): Promise<CibaRequestRecord[]>;
  /** True the first time `key` is claimed before `until` (unix seconds), false on every later claim. */
  claimOnce(key: string, until: number): Promise<boolean>;
}

/** Records stay this long after their expiry so a late poll gets expired_token rather than invalid_grant. */
export const RETENTION_AFTER_EXPIRY_SECONDS = 600;

export type TransitionResult<T> = { applied: true; value: T } | { applied: false; value: T };

/**
 * Reads the record, lets `transition` compute the answer and maybe a next record, and writes it with a
 * compare-and-set, retrying when another replica wrote in between. Returns the answer that was applied.
 */
export async function updateRequest<T>(
  store: CibaRequestStore,
  authReqId: string,
  transition: (record: CibaRequestRecord | undefined) => { result: T; next?: CibaRequestRecord },
  attempts = 5,
): Promise<T> {
  for (let i = 0; ; i++) {
    const { result, next } = transition(await store.get(authReqId));
    if (next === undefined || (await store.replace(next))) return result;
    if (i + 1 >= attempts)
      throw new Error(`CIBA request ${authReqId.slice(0, 6)}…: too much write contention`);
  }
}

interface Entry {
  json: string;
  retainUntil: number;
}

export class MemoryCibaRequestStore implements CibaRequestStore {
  readonly #records = new Map<string, Entry>();
  readonly #claims = new Map<string, number>();
  readonly #clock: () => number;

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  #live(authReqId: string): Entry | undefined {
    const e = this.#records.get(authReqId);
    if (e && e.retainUntil <= this.#clock()) {
      this.#records.delete(authReqId);
      return undefined;
    }
    return e;
  }

  #sweep(): void {
    const now = this.#clock();
    for (const [k, e] of this.#records) if (e.retainUntil <= now) this.#records.delete(k);
    for (const [k, until] of this.#claims) if (until <= now) this.#claims.delete(k);
  }

  insert(record: CibaRequestRecord, retainUntil: number): Promise<boolean> {
    this.#sweep();
    if (this.#live(record.authReqId)) return Promise.resolve(false);
    // Stored serialised, as Redis would: callers can never mutate the stored value by reference.
    this.#records.set(record.authReqId, { json: JSON.stringify(record), retainUntil });
    return Promise.resolve(true);
  }

  get(authReqId: string): Promise<CibaRequestRecord | undefined> {
    const e = this.#live(authReqId);
    return Promise.resolve(e ? (JSON.parse(e.json) as CibaRequestRecord) : undefined);
  }

  replace(next: CibaRequestRecord): Promise<boolean> {
    const e = this.#live(next.authReqId);
    if (!e || (JSON.parse(e.json) as CibaRequestRecord).version !== next.version - 1)
      return Promise.resolve(false);
    this.#records.set(next.authReqId, { json: JSON.stringify(next), retainUntil: e.retainUntil });
    return Promise.resolve(true);
  }

  listBySubject(subject: string): Promise<CibaRequestRecord[]> {
    this.#sweep();
    const out: CibaRequestRecord[] = [];
    for (const e of this.#records.values()) {
      const r = JSON.parse(e.json) as CibaRequestRecord;
      if (r.subject === subject) out.push(r);
    }
    return Promise.resolve(out.sort((a, b) => a.createdAt - b.createdAt));
  }

  claimOnce(key: string, until: number): Promise<boolean> {
    const existing = this.#claims.get(key);
    if (existing !== undefined && existing > this.#clock()) return Promise.resolve(false);
    this.#claims.set(key, until);
    return Promise.resolve(true);
  }
}
