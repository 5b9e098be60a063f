/**
 * The issuer's signing keys, fetched over HTTPS and cached. Keys keep serving while the JWKS endpoint
 * is down (an outage at the issuer must not take the API down with it); an unknown `kid` triggers at most
 * one refetch per cooldown, shared by every request that misses at the same time (single flight), so a
 * flood of tokens with random `kid`s cannot turn the gateway into a load generator against the issuer.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';

export interface JwksCacheOptions {
  uri: string;
  /** Extra PEM CA certificates trusted for the endpoint, beyond the system CAs and NODE_EXTRA_CA_CERTS. */
  extraCaPem?: string;
  cooldownSeconds: number;
  refreshSeconds: number;
  fetchTimeoutMs?: number;
  logger: Logger;
  onFetch?: (result: 'success' | 'failure') => void;
}

const MAX_JWKS_BYTES = 512 * 1024;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** The trust store for the JWKS endpoint: system CAs plus NODE_EXTRA_CA_CERTS plus the configured file. */
export function trustedCas(extraCaPem: string | undefined): string[] | undefined {
  const extraFromEnv = process.env.NODE_EXTRA_CA_CERTS;
  if (extraCaPem === undefined) return undefined; // Node's default store already includes NODE_EXTRA_CA_CERTS
  const cas = [...rootCertificates, extraCaPem];
  if (extraFromEnv) {
    try {
      cas.push(readFileSync(extraFromEnv, 'utf8'));
    } catch {
      // Node itself warns at start-up about an unreadable NODE_EXTRA_CA_CERTS.
    }
  }
  return cas;
}

/** Validates a JWKS document: a `keys` array of public JWKs (a JWKS leaking private keys is refused). */
export function parseJwks(text: string): JSONWebKeySet {
  const doc: unknown = JSON.parse(text);
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw new Error('the document has no "keys" array');
  }
  const keys = (doc as { keys: unknown[] }).keys;
  // An empty set is an issuer misconfiguration, not a rotation: keep serving the keys already cached.
  if (keys.length === 0) throw new Error('the "keys" array is empty');
  for (const k of keys) {
    if (typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string') {
      throw new Error('a key has no "kty"');
    }
    if (PRIVATE_MEMBERS.some((m) => m in k))
      throw new Error('the JWKS contains private or symmetric key material');
  }
  return doc as JSONWebKeySet;
}

export class JwksCache {
  /** The cached key set; undefined until the first successful fetch. */
  keySet: JSONWebKeySet | undefined;
  keyCount = 0;
  /** Date.now() of the last successful fetch. */
  loadedAt: number | undefined;
  /** Bumped each time the key set changes (the verification cache is cleared then). */
  generation = 0;
  private readonly createdAt = Date.now();
  private lastAttemptAt = 0;
  private inFlight: Promise<void> | undefined;
  private lastKeysJson = '';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly ca: string[] | undefined;
  private readonly changeListeners: (() => void)[] = [];
  private readonly readyListeners: (() => void)[] = [];

  constructor(private readonly options: JwksCacheOptions) {
    this.ca = trustedCas(options.extraCaPem);
  }

  get ready(): boolean {
    return this.keySet !== undefined;
  }

  /** Seconds since the last successful fetch (since start when there never was one). */
  ageSeconds(): number {
    return (Date.now() - (this.loadedAt ?? this.createdAt)) / 1000;
  }

  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  /** Resolves once keys are loaded (never rejects; the cache keeps retrying in the background). */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyListeners.push(resolve));
  }

  /** First load with backoff until it succeeds, then a refresh every refreshSeconds. */
  start(): void {
    let backoffMs = 500;
    const tick = async () => {
      if (this.stopped) return;
      await this.refresh();
      if (this.stopped) return;
      const next = this.ready ? this.options.refreshSeconds * 1000 : backoffMs;
      backoffMs = Math.min(backoffMs * 2, 30_000, this.options.refreshSeconds * 1000);
      this.timer = setTimeout(() => void tick(), next);
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * Called when a token names a key the cache lacks. Fetches unless a fetch ran within the cooldown;
   * concurrent callers share one fetch. Resolves to true when the key set changed.
   */
  async refetchOnUnknownKid(): Promise<boolean> {
    const before = this.generation;
    if (this.inFlight) {
      await this.inFlight;
    } else {
      if (Date.now() - this.lastAttemptAt < this.options.cooldownSeconds * 1000) return false;
      await this.refresh();
    }
    return this.generation !== before;
  }

  /** One fetch at a time; a failure keeps the cached keys. */
  refresh(): Promise<void> {
    this.inFlight ??= this.fetchOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetchOnce(): Promise<void> {
    this.lastAttemptAt = Date.now();
    try {
      const jwks = parseJwks(await this.download());
      const json = JSON.stringify(jwks.keys);
      this.loadedAt = Date.now();
      this.options.onFetch?.('success');
      if (json !== this.lastKeysJson) {
        const wasReady = this.ready;
        this.keySet = jwks;
        this.keyCount = jwks.keys.length;
        this.lastKeysJson = json;
        this.generation++;
        this.options.logger.info({ event: 'jwks_loaded', keys: this.keyCount }, 'JWKS loaded');
        for (const l of this.changeListeners) l();
        if (!wasReady) for (const l of this.readyListeners.splice(0)) l();
      }
    } catch (err) {
      this.options.onFetch?.('failure');
      this.options.logger.warn(
        {
          event: 'jwks_fetch_failed',
          uri: this.options.uri,
          err: (err as Error).message,
          cachedKeys: this.keyCount,
        },
        this.ready
          ? 'JWKS fetch failed; serving cached keys'
          : 'JWKS fetch failed; no keys yet (requests get 503)',
      );
    }
  }

  private download(): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = https.get(
        this.options.uri,
        {
          ca: this.ca,
          timeout: this.options.fetchTimeoutMs ?? 5000,
          headers: { accept: 'application/json' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_JWKS_BYTES) req.destroy(new Error('JWKS document too large'));
            else chunks.push(c);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
        },
      );
      // The socket timeout only fires on silence; this deadline covers connecting, the headers and the
      // whole body, so an endpoint that drips bytes cannot hold the key lookup or the refresh.
      const timeoutMs = this.options.fetchTimeoutMs ?? 5000;
      const deadline = setTimeout(
        () => req.destroy(new Error(`no complete answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      req.on('close', () => clearTimeout(deadline));
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
    });
  }
}
