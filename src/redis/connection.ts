/**
 * The product's one way to open a Redis connection (ioredis, which BullMQ also uses): TLS with a private
 * CA, ACL user, connect and command timeouts, reconnection with capped exponential backoff forever (the
 * process never exits because Redis is away), one log line per outage and one when it ends, and metrics.
 *
 * Commands are never queued while Redis is away and never resent after a lost connection: a request that
 * needs Redis fails at once with the caller's "unavailable" error (503), rather than waiting or running a
 * single-use operation twice.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisSettings } from './config.js';
import { RedisUnavailableError } from './errors.js';
import type { RedisMetrics } from './metrics.js';

export interface RedisConnectionOptions {
  settings: RedisSettings;
  /** From `redisPassword()` (passwordFile or the environment). */
  password?: string | undefined;
  /** The configuration key of `settings` (e.g. `storage.redis`), named in log lines. */
  configKey: string;
  /** `CLIENT SETNAME`, visible in `CLIENT LIST` (e.g. `fapi-issuer`). */
  connectionName: string;
  log: Logger;
  metrics: RedisMetrics;
  /** The error `run()` throws when Redis cannot answer; the component maps it to 503. */
  unavailable?: (operation: string, cause: RedisUnavailableError) => Error;
  /** Delay before reconnection attempt `n` (1-based); default 100 ms doubling up to 5 s. */
  backoffMs?: (attempt: number) => number;
}

/** 100 ms, 200 ms, 400 ms, ... capped at 5 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.max(0, attempt - 1), 5000);
}

/** ioredis options from the settings (also used for BullMQ's own connections). */
export function redisOptions(
  settings: RedisSettings,
  password: string | undefined,
  connectionName: string,
): RedisOptions {
  const url = new URL(settings.url);
  const tls: ConnectionOptions | undefined =
    url.protocol === 'rediss:'
      ? {
          ...(settings.ca !== undefined && { ca: readFileSync(settings.ca, 'utf8') }),
          // SNI only for names (RFC 6066 §3: literal IP addresses are not permitted).
          ...(isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 && { servername: url.hostname }),
        }
      : undefined;
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    ...(settings.username !== undefined && { username: settings.username }),
    ...(password !== undefined && { password }),
    ...(tls !== undefined && { tls }),
    connectionName,
    connectTimeout: settings.connectTimeoutMs,
  };
}

const TIMEOUT = /timed out|timeout/i;

export class RedisConnection {
  readonly client: Redis;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  private state: 'starting' | 'up' | 'down' | 'closed' = 'starting';
  private downSince = 0;
  private readonly options: RedisConnectionOptions;
  private readonly baseOptions: RedisOptions;

  constructor(options: RedisConnectionOptions) {
    this.options = options;
    this.keyPrefix = options.settings.keyPrefix;
    this.commandTimeoutMs = options.settings.commandTimeoutMs;
    this.baseOptions = redisOptions(options.settings, options.password, options.connectionName);
    const backoff = options.backoffMs ?? reconnectDelayMs;
    this.client = new Redis({
      ...this.baseOptions,
      commandTimeout: options.settings.commandTimeoutMs,
      // A Redis that stops answering (paused, partitioned) gets its socket closed and reopened, so the
      // outage is seen by readiness, not only by the requests that time out.
      socketTimeout: options.settings.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // The commands that concurrent requests issue in one event-loop turn go out as one write (the next
      // batch once this one is answered) and Redis reads them at once: fewer system calls on both sides
      // under load. Each command, script and MULTI block stays atomic on its own.
      enableAutoPipelining: true,
      retryStrategy: (attempt) => backoff(attempt),
      // After a failover the old primary answers READONLY: reconnect to find the new one.
      reconnectOnError: (err) => err.message.startsWith('READONLY'),
    });
    this.client.on('ready', () => this.onReady());
    this.client.on('error', (err: Error) => this.onDown(err));
    this.client.on('close', () => this.onDown(undefined));
  }

  /** True while commands can be sent (readiness). */
  get available(): boolean {
    return this.state === 'up';
  }

  /** Resolves true once connected, false after `timeoutMs` (start-up does not wait for it). */
  whenAvailable(timeoutMs: number): Promise<boolean> {
    if (this.available) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.client.once('ready', onReady);
    });
  }

  /** `keyPrefix` + parts joined by `:`. */
  key(...parts: string[]): string {
    return this.keyPrefix + parts.join(':');
  }

  /**
   * Runs one store operation (one round trip: a command, a script or a MULTI), timing it under
   * `operation`. Connection failures and timeouts become the component's "unavailable" error; other
   * Redis errors (a bug: wrong type, script error) are counted and rethrown as they are.
   */
  async run<T>(operation: string, command: (client: Redis) => Promise<T>): Promise<T> {
    const { metrics } = this.options;
    const end = metrics.commandDuration.startTimer({ operation });
    try {
      if (this.state !== 'up') throw new RedisUnavailableError(operation, 'unavailable');
      return await command(this.client);
    } catch (err) {
      const unavailable = this.classify(operation, err);
      metrics.commandErrors.inc({ operation, kind: unavailable?.kind ?? 'error' });
      if (!unavailable) throw err;
      throw this.options.unavailable ? this.options.unavailable(operation, unavailable) : unavailable;
    } finally {
      end();
    }
  }

  private classify(operation: string, err: unknown): RedisUnavailableError | undefined {
    if (err instanceof RedisUnavailableError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (TIMEOUT.test(message)) return new RedisUnavailableError(operation, 'timeout', { cause: err });
    const connectionLost =
      this.state !== 'up' ||
      /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOAUTH|WRONGPASS)\b/.test(message) ||
      /Connection is closed|Stream isn't writeable|MaxRetriesPerRequest|ECONNRESET|EPIPE|aborted/i.test(
        message,
      );
    return connectionLost ? new RedisUnavailableError(operation, 'unavailable', { cause: err }) : undefined;
  }

  /**
   * Another connection with the same server, credentials and TLS, for clients that need their own
   * (BullMQ: blocking commands, which must wait indefinitely and may queue while reconnecting). Its
   * errors are logged at debug level: the main connection reports the outage.
   */
  duplicate(connectionName: string, overrides: RedisOptions = {}): Redis {
    const backoff = this.options.backoffMs ?? reconnectDelayMs;
    const client = new Redis({
      ...this.baseOptions,
      connectionName,
      retryStrategy: (attempt) => backoff(attempt),
      ...overrides,
    });
    client.on('error', (err: Error) =>
      this.options.log.debug(
        { redis: this.options.configKey, connection: connectionName, err: err.message },
        'Redis connection error',
      ),
    );
    return client;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.options.metrics.connected.set(0);
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private onReady(): void {
    if (this.state === 'closed') return;
    const { log, metrics, configKey } = this.options;
    if (this.state === 'down')
      log.info({ redis: configKey, downForMs: Date.now() - this.downSince }, 'Redis available again');
    else log.info({ redis: configKey, target: this.target() }, 'Redis connected');
    this.state = 'up';
    metrics.connected.set(1);
  }

  /** Logged and counted once per outage; the repeated errors of reconnection attempts go to debug. */
  private onDown(err: Error | undefined): void {
    if (this.state === 'closed') return;
    const { log, metrics, configKey } = this.options;
    if (this.state === 'down') {
      if (err) log.debug({ redis: configKey, err: err.message }, 'Redis still unavailable');
      return;
    }
    const starting = this.state === 'starting';
    this.state = 'down';
    this.downSince = Date.now();
    metrics.connected.set(0);
    metrics.outages.inc();
    log.warn(
      { redis: configKey, target: this.target(), reason: err?.message ?? 'connection closed' },
      starting
        ? 'Redis unreachable at start: not ready; retrying with backoff'
        : 'Redis unavailable: requests that need it answer 503; retrying with backoff',
    );
  }

  /** host:port/db, never credentials. */
  private target(): string {
    const o = this.baseOptions;
    return `${o.tls ? 'rediss' : 'redis'}://${o.host ?? ''}:${o.port ?? ''}/${o.db ?? 0}`;
  }
}
