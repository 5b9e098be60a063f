/**
 * Delivery to a client's notification endpoint: the ping (CIBA Core §10.2, `{"auth_req_id"}`) and the push
 * (§10.3 token response, §12 push error). Both are `POST` with `Authorization: Bearer
 * <client_notification_token>` and a JSON body; any 2xx is success (§10.2: 204, and 200 should be accepted).
 *
 * A failed attempt (network error, timeout, non-2xx, redirect) is retried with exponential backoff
 * (base, 2 x base, 4 x base, ... with base 1 s by default) while the request has not expired; every attempt
 * and the final outcome are counted and reported to `onAttempt`, so no delivery disappears silently.
 * Redirects are never followed: the registered endpoint is the only place a bearer value may go.
 */
import { Agent, request, type Dispatcher } from 'undici';

export interface NotificationMessage {
  mode: 'ping' | 'push';
  url: string;
  bearer: string;
  body: Record<string, unknown>;
  /** Unix milliseconds after which no attempt starts. */
  deadline: number;
}

export interface AttemptReport {
  attempt: number;
  delivered: boolean;
  /** Set on the last report when delivery stops without success. */
  abandoned: boolean;
  error?: string;
}

export interface NotificationSenderOptions {
  /** First retry delay in ms (default 1000); tests use a few ms. */
  baseDelayMs?: number;
  /** Per-attempt timeout in ms (default 10 000). */
  attemptTimeoutMs?: number;
  /** PEM CA bundle trusted for notification endpoints in addition to nothing else when set. */
  ca?: string | Buffer;
  dispatcher?: Dispatcher;
  now?: () => number;
}

export class NotificationSender {
  readonly #baseDelayMs: number;
  readonly #timeoutMs: number;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #now: () => number;
  readonly #inFlight = new Set<AbortController>();
  #closed = false;

  constructor(options: NotificationSenderOptions = {}) {
    this.#baseDelayMs = options.baseDelayMs ?? 1000;
    this.#timeoutMs = options.attemptTimeoutMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({
        connect: { ...(options.ca !== undefined && { ca: options.ca }), rejectUnauthorized: true },
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
  }

  /** Delay before retry number `n` (1-based): base x 2^(n-1). */
  retryDelay(n: number): number {
    return this.#baseDelayMs * 2 ** (n - 1);
  }

  /**
   * Delivers `message`, retrying until success, expiry or `close()`. Resolves (never rejects) with the
   * last report; `onAttempt` sees every attempt in order (the store records them on the request).
   */
  async deliver(
    message: NotificationMessage,
    onAttempt: (report: AttemptReport) => Promise<void> | void,
  ): Promise<AttemptReport> {
    const abort = new AbortController();
    this.#inFlight.add(abort);
    try {
      for (let attempt = 1; ; attempt++) {
        const error = this.#closed ? 'issuer shutting down' : await this.#attempt(message, abort.signal);
        const delivered = error === undefined;
        const delay = this.retryDelay(attempt);
        const giveUp = !delivered && (this.#closed || this.#now() + delay >= message.deadline);
        const report: AttemptReport = {
          attempt,
          delivered,
          abandoned: giveUp,
          ...(error !== undefined && { error }),
        };
        await onAttempt(report);
        if (delivered || giveUp) return report;
        await sleep(delay, abort.signal);
      }
    } finally {
      this.#inFlight.delete(abort);
    }
  }

  /**
   * One attempt, for a delivery queue that schedules the retries itself: resolves undefined when the client
   * accepted the notification, else why not. `close()` aborts it ("issuer shutting down").
   */
  async attemptOnce(message: NotificationMessage): Promise<string | undefined> {
    if (this.#closed) return 'issuer shutting down';
    const abort = new AbortController();
    this.#inFlight.add(abort);
    try {
      return await this.#attempt(message, abort.signal);
    } finally {
      this.#inFlight.delete(abort);
    }
  }

  async #attempt(message: NotificationMessage, signal: AbortSignal): Promise<string | undefined> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      const res = await request(message.url, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: {
          authorization: `Bearer ${message.bearer}`,
          'content-type': 'application/json',
          'cache-control': 'no-store',
        },
        body: JSON.stringify(message.body),
        signal: AbortSignal.any([signal, timeout]),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return undefined;
      return `notification endpoint answered HTTP ${res.statusCode}`;
    } catch (e) {
      if (signal.aborted) return 'issuer shutting down';
      if (timeout.aborted) return `no answer within ${this.#timeoutMs} ms`;
      const err = e as NodeJS.ErrnoException;
      return `notification endpoint unreachable (${err.code ?? err.message})`;
    }
  }

  /** Stops retrying: in-flight deliveries end with an abandoned report. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const a of this.#inFlight) a.abort();
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
