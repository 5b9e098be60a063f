/**
 * CIBA ping/push deliveries as BullMQ jobs in the issuer's Redis (`storage.type: redis`), so a delivery
 * outlives the replica that took the decision: whichever replica is alive runs the next attempt, on the
 * same schedule as in one process (1 s, 2 s, 4 s, ... until the request expires: BullMQ's exponential
 * backoff). The job id is derived from the auth_req_id, so one request is one job, and BullMQ's job lock
 * means no two replicas run it at once; a replica that dies mid-attempt loses its lock and another one
 * takes the job over after `lockDurationMs` (at least once, never concurrently).
 *
 * Every key lives under `<keyPrefix>{ciba}:` : one hash slot on Redis Cluster, as BullMQ's scripts need.
 */
import { createHash } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConnection } from '../../redis/connection.js';
import type { NotificationQueuePort, QueuedNotification } from './service.js';

const QUEUE_NAME = 'notifications';

export interface NotificationQueueOptions {
  redis: RedisConnection;
  log: Logger;
  /** First retry delay (default 1000 ms). */
  baseDelayMs?: number;
  /** How long a replica's claim on a running attempt lasts without renewal (default 10 s). */
  lockDurationMs?: number;
  /** Runs one attempt; `retry` schedules the next after the backoff. */
  attempt(
    job: QueuedNotification,
    attempt: number,
    rememberGrant: (grantId: string) => Promise<void>,
  ): Promise<'done' | 'retry'>;
}

/** The job id: not the auth_req_id itself, and free of the `:` BullMQ reserves. */
export function notificationJobId(authReqId: string): string {
  return `ciba-${createHash('sha256').update(authReqId).digest('base64url')}`;
}

class RetryLater extends Error {
  override readonly name = 'RetryLater';
}

export class BullNotificationQueue implements NotificationQueuePort {
  readonly #queue: Queue<QueuedNotification>;
  readonly #worker: Worker<QueuedNotification>;
  readonly #baseDelayMs: number;
  readonly #timeoutMs: number;
  readonly #connections: Redis[];

  constructor(options: NotificationQueueOptions) {
    const { redis, log } = options;
    const prefix = `${redis.keyPrefix}{ciba}`;
    this.#baseDelayMs = options.baseDelayMs ?? 1000;
    this.#timeoutMs = Math.max(2000, 2 * redis.commandTimeoutMs);
    // Adding a job fails fast while Redis is away (the caller then delivers in process); the worker's
    // blocking commands wait for it, as BullMQ needs (maxRetriesPerRequest: null).
    const producer = redis.duplicate('fapi-issuer-ciba-queue', {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    const consumer = redis.duplicate('fapi-issuer-ciba-worker', { maxRetriesPerRequest: null });
    this.#connections = [producer, consumer];
    this.#queue = new Queue<QueuedNotification>(QUEUE_NAME, { prefix, connection: producer });
    this.#worker = new Worker<QueuedNotification>(
      QUEUE_NAME,
      async (job: Job<QueuedNotification>) => {
        const outcome = await options.attempt(job.data, job.attemptsMade + 1, (grantId) =>
          job.updateData({ ...job.data, grantId }),
        );
        if (outcome === 'retry') throw new RetryLater('the client has not accepted the notification yet');
      },
      {
        prefix,
        connection: consumer,
        concurrency: 16,
        lockDuration: options.lockDurationMs ?? 10_000,
        stalledInterval: Math.max(1000, Math.floor((options.lockDurationMs ?? 10_000) / 2)),
        maxStalledCount: 10,
      },
    );
    // Without a listener BullMQ prints every reconnection error to stderr.
    this.#queue.on('error', (err) =>
      log.debug({ err: err.message }, 'CIBA delivery queue: Redis error (the connection reports outages)'),
    );
    this.#worker.on('error', (err) =>
      log.debug({ err: err.message }, 'CIBA delivery worker: Redis error (the connection reports outages)'),
    );
    this.#worker.on('failed', (job, err) => {
      if (!(err instanceof RetryLater))
        log.warn(
          { err: err.message, attempt: job?.attemptsMade },
          'CIBA delivery attempt failed; will retry',
        );
    });
  }

  async enqueue(job: QueuedNotification): Promise<void> {
    const add = this.#queue.add('deliver', job, {
      jobId: notificationJobId(job.record.authReqId),
      // The service gives up at the request's expiry; this bound only stops a runaway job.
      attempts: 64,
      backoff: { type: 'exponential', delay: this.#baseDelayMs },
      removeOnComplete: true,
      removeOnFail: { age: 24 * 3600 },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('Redis did not take the delivery job in time')),
        this.#timeoutMs,
      );
    });
    try {
      await Promise.race([add, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Finishes the running attempts; queued deliveries stay in Redis for the other replicas. */
  async close(): Promise<void> {
    await this.#worker.close();
    await this.#queue.close();
    // BullMQ leaves connections it was given open.
    for (const c of this.#connections) c.disconnect();
  }
}
