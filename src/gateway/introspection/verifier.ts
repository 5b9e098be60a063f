/**
 * Opaque access tokens, verified by asking the authorization server (RFC 7662). Answers are cached by the
 * token's SHA-256 (the cache never holds a credential): active tokens until min(exp, now +
 * cacheMaxSeconds), which bounds how long a revocation at the server takes to reach the gateway; refusals
 * for negativeCacheSeconds. Concurrent first uses of one token share one call (single flight). When the
 * endpoint fails, the request gets 503 and nothing is cached: the next request asks again.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { IntrospectionCacheResult, IntrospectionOutcome } from '../metrics.js';
import { reject, type Reject } from '../rejections.js';
import type { IntrospectionClient, IntrospectionFailure } from './client.js';
import {
  isReject,
  type ConnectionTokenMemo,
  type TokenVerifier,
  type VerifiedAccessToken,
} from '../tokens/verifier.js';
import { interpretIntrospection, type IntrospectionPolicy } from './response.js';

export interface IntrospectionVerifierOptions {
  client: Pick<IntrospectionClient, 'introspect' | 'close'>;
  policy: IntrospectionPolicy;
  cacheMaxSeconds: number;
  negativeCacheSeconds: number;
  /** Answers remembered at most (LRU); 0 disables both caches. */
  cacheMaxEntries: number;
  logger: Logger;
  onCall?: (outcome: IntrospectionOutcome, seconds: number) => void;
  onCache?: (result: IntrospectionCacheResult) => void;
  /** Milliseconds since the epoch; tests inject a clock. */
  now?: () => number;
}

interface CacheEntry {
  result: VerifiedAccessToken | Reject;
  /** Date.now() after which the entry is not used. */
  until: number;
}

/** A token the size of a whole request is no token: refuse it before hashing or sending it anywhere. */
const MAX_TOKEN_LENGTH = 16 * 1024;
/** Repeated failures of one kind are logged once per window, with how many were not logged. */
const FAILURE_LOG_WINDOW_MS = 10_000;

export class IntrospectionVerifier implements TokenVerifier {
  readonly kind = 'introspection';
  private readonly cache: LRUCache<string, CacheEntry> | undefined;
  private readonly inFlight = new Map<string, Promise<VerifiedAccessToken | Reject>>();
  private readonly now: () => number;
  private readonly failureLog = new Map<IntrospectionFailure, { at: number; suppressed: number }>();

  constructor(private readonly options: IntrospectionVerifierOptions) {
    this.now = options.now ?? Date.now;
    if (options.cacheMaxEntries > 0) this.cache = new LRUCache({ max: options.cacheMaxEntries });
  }

  /** The authorization server is asked per token, not at start: readiness never waits for it. */
  ready(): boolean {
    return true;
  }

  whenReady(): Promise<void> {
    return Promise.resolve();
  }

  stop(): void {
    this.cache?.clear();
    this.options.client.close();
  }

  verify(
    token: string,
    memo?: ConnectionTokenMemo,
  ): VerifiedAccessToken | Reject | Promise<VerifiedAccessToken | Reject> {
    const now = this.now();
    // The connection's last token: its cached answer holds until the memo's generation (the entry's end).
    if (memo?.owner === this && memo.token === token && now < memo.generation!) {
      const fresh = this.stillValid(memo.verified!, now);
      this.options.onCache?.(isReject(fresh) ? 'negative_hit' : 'hit');
      return fresh;
    }
    if (token.length > MAX_TOKEN_LENGTH) return reject('token_malformed', 'the access token is too long');
    const key = hash('sha256', token, 'base64url');
    const cached = this.cache?.get(key);
    if (cached !== undefined) {
      if (now < cached.until) {
        const fresh = this.stillValid(cached.result, now);
        this.options.onCache?.(isReject(fresh) ? 'negative_hit' : 'hit');
        if (!isReject(fresh)) this.rememberOn(memo, token, fresh, cached.until);
        return fresh;
      }
      this.cache!.delete(key);
    }
    this.options.onCache?.('miss');
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.lookup(token, key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return memo === undefined
      ? pending
      : pending.then((result) => {
          const entry = this.cache?.get(key);
          if (!isReject(result) && entry?.result === result)
            this.rememberOn(memo, token, result, entry.until);
          return result;
        });
  }

  private rememberOn(
    memo: ConnectionTokenMemo | undefined,
    token: string,
    verified: VerifiedAccessToken,
    until: number,
  ): void {
    if (memo === undefined) return;
    memo.token = token;
    memo.verified = verified;
    memo.owner = this;
    memo.generation = until;
  }

  /** A cached active answer is re-checked against the clock: exp may pass while it is cached. */
  private stillValid(result: VerifiedAccessToken | Reject, now: number): VerifiedAccessToken | Reject {
    if (isReject(result)) return result;
    if (result.expiresAt <= now / 1000 - this.options.policy.clockSkewSeconds) {
      return reject('token_expired', 'the access token has expired');
    }
    return result;
  }

  private async lookup(token: string, key: string): Promise<VerifiedAccessToken | Reject> {
    const started = performance.now();
    const call = await this.options.client.introspect(token);
    const seconds = (performance.now() - started) / 1000;
    if (call.kind === 'failure') return this.failed(call.failure, call.detail, seconds);
    const now = this.now();
    const verdict = interpretIntrospection(call.document, this.options.policy, now / 1000);
    if (verdict.kind === 'invalid') return this.failed('invalid_response', verdict.why, seconds);
    if (verdict.kind === 'refused') {
      this.options.onCall?.('refused', seconds);
      this.remember(key, verdict.reject, now + this.options.negativeCacheSeconds * 1000);
      return verdict.reject;
    }
    this.options.onCall?.('active', seconds);
    const bound = now + this.options.cacheMaxSeconds * 1000;
    this.remember(
      key,
      verdict.token,
      verdict.exp === undefined ? bound : Math.min(bound, verdict.exp * 1000),
    );
    return verdict.token;
  }

  private remember(key: string, result: VerifiedAccessToken | Reject, until: number): void {
    if (this.cache !== undefined && until > this.now()) this.cache.set(key, { result, until });
  }

  private failed(failure: IntrospectionFailure, detail: string, seconds: number): Reject {
    this.options.onCall?.(failure, seconds);
    const now = this.now();
    const last = this.failureLog.get(failure);
    if (last !== undefined && now - last.at < FAILURE_LOG_WINDOW_MS) {
      last.suppressed++;
    } else {
      this.options.logger.error(
        {
          event: 'introspection_failed',
          failure,
          detail,
          // Same-kind failures since the last line, not logged one by one.
          suppressed: last?.suppressed ?? 0,
        },
        'introspection endpoint failed: requests with opaque tokens get 503',
      );
      this.failureLog.set(failure, { at: now, suppressed: 0 });
    }
    return reject('introspection_unavailable', 'the access token cannot be verified right now');
  }
}
