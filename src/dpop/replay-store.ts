/**
 * RFC 9449 §11.1: a proof's `jti` is accepted once. A store answers, atomically, whether a key is seen for
 * the first time and remembers it for `ttlSeconds`. The in-memory store answers synchronously; a shared
 * store (for several replicas) answers with a promise. A store that cannot answer throws (or rejects):
 * callers fail closed.
 */
export interface DpopReplayStore {
  firstUse(key: string, ttlSeconds: number): boolean | Promise<boolean>;
}

export class DpopReplayStoreFull extends Error {
  override readonly name = 'DpopReplayStoreFull';
}

export interface MemoryDpopReplayStoreOptions {
  /** Entries remembered at once; when all are still live, new proofs are refused (fail closed). */
  maxEntries: number;
  /** Unix time in seconds; Date.now by default. */
  now?: () => number;
}

/**
 * One process's memory. Entries are kept in insertion order with their expiry; expired entries are dropped
 * from the front on each call, so the work per call is constant amortised. Every entry's lifetime is bounded by the
 * iat window, so anything inserted longer ago than that is always reclaimed.
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  private readonly entries = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: MemoryDpopReplayStoreOptions) {
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer');
    }
    this.maxEntries = options.maxEntries;
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  get size(): number {
    return this.entries.size;
  }

  private dropExpired(now: number): void {
    for (const [key, expiresAt] of this.entries) {
      if (expiresAt > now) break;
      this.entries.delete(key);
    }
  }

  firstUse(key: string, ttlSeconds: number): boolean {
    const now = this.now();
    this.dropExpired(now);
    const expiresAt = this.entries.get(key);
    if (expiresAt !== undefined) {
      if (expiresAt > now) return false;
      this.entries.delete(key);
    }
    if (this.entries.size >= this.maxEntries) {
      throw new DpopReplayStoreFull('the DPoP replay store is full of live entries');
    }
    this.entries.set(key, now + ttlSeconds);
    return true;
  }
}
