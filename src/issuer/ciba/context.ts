/**
 * The CIBA service of a running issuer, built once from its runtime (store, users, keys, metrics, clock)
 * and closed with it. Endpoints find it with `cibaOf(runtime)`.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet } from 'jose';
import { SIGNING_ALGORITHMS } from '../config.js';
import type { IssuerRuntime } from '../runtime.js';
import { endUsersOf, type EndUser } from '../users/authenticator.js';
import { signInLimiterOf } from '../users/sign-in-limits.js';
import type { CibaUser, CibaUserDirectory } from './hints.js';
import { createCibaMetrics } from './metrics.js';
import { NotificationSender } from './notification.js';
import { BullNotificationQueue } from './notification-queue.js';
import { CibaService } from './service.js';
import { stateCibaRequestStore } from './state-store.js';
import { runtimeCibaTokens } from './tokens.js';

export interface CibaOptions {
  /** First retry delay of ping/push deliveries in ms (default 1000: 1 s, 2 s, 4 s, ...). */
  notificationBaseDelayMs?: number;
  /** Per-attempt timeout in ms (default 10 000). */
  notificationAttemptTimeoutMs?: number;
  /** CA bundle (PEM) for notification endpoints; overrides `ciba.notificationCa`. */
  notificationCa?: string | Buffer;
  /** With Redis: how long a replica's claim on a running delivery lasts (default 10 s). */
  notificationLockMs?: number;
}

function userDirectory(runtime: IssuerRuntime): CibaUserDirectory {
  const users = endUsersOf(runtime);
  const withCode = (u: EndUser | undefined): CibaUser | undefined => {
    if (!u) return undefined;
    const configured = runtime.config.users.find((c) => c.username === u.username);
    return { ...u, ...(configured?.userCode !== undefined ? { userCode: configured.userCode } : {}) };
  };
  return {
    byUsername: async (username) => withCode(await users.findByUsername(username)),
    bySubject: async (sub) => withCode(await users.findBySubject(sub)),
    byEmail: async (email) => {
      const wanted = email.toLowerCase();
      const c = runtime.config.users.find(
        (u) => typeof u.claims.email === 'string' && u.claims.email.toLowerCase() === wanted,
      );
      return c ? withCode(await users.findByUsername(c.username)) : undefined;
    },
  };
}

const services = new WeakMap<IssuerRuntime, CibaService>();

export function startCiba(runtime: IssuerRuntime, options: CibaOptions = {}): CibaService {
  const { config } = runtime;
  const ca =
    options.notificationCa ??
    (config.ciba.notificationCa !== undefined ? readFileSync(config.ciba.notificationCa) : undefined);
  const queue =
    runtime.redis &&
    new BullNotificationQueue({
      redis: runtime.redis,
      log: runtime.log.child({ feature: 'ciba' }),
      ...(options.notificationBaseDelayMs !== undefined && { baseDelayMs: options.notificationBaseDelayMs }),
      ...(options.notificationLockMs !== undefined && { lockDurationMs: options.notificationLockMs }),
      attempt: (job, attempt, rememberGrant) => service.runQueuedAttempt(job, attempt, rememberGrant),
    });
  const service: CibaService = new CibaService({
    issuer: runtime.urls.issuer,
    expiresInSeconds: config.ciba.expiresInSeconds,
    intervalSeconds: config.ciba.intervalSeconds,
    clockSkewSeconds: config.clientAssertions.clockSkewSeconds,
    signingAlgorithms: [...SIGNING_ALGORITHMS],
    store: stateCibaRequestStore(runtime.storage.state, runtime.storage.replay),
    sender: new NotificationSender({
      now: () => runtime.clock.nowMs(),
      ...(options.notificationBaseDelayMs !== undefined && { baseDelayMs: options.notificationBaseDelayMs }),
      ...(options.notificationAttemptTimeoutMs !== undefined && {
        attemptTimeoutMs: options.notificationAttemptTimeoutMs,
      }),
      ...(ca !== undefined && { ca }),
    }),
    tokens: runtimeCibaTokens(runtime),
    users: userDirectory(runtime),
    clients: (clientId) => runtime.storage.clients.findClient(clientId),
    issuerKeys: createLocalJWKSet(runtime.keys.jwks),
    metrics: createCibaMetrics(runtime.metrics.registry),
    counters: runtime.storage.counters,
    limits: config.ciba.limits,
    guessLimits: signInLimiterOf(runtime),
    logger: runtime.log.child({ feature: 'ciba' }),
    ...(queue && { queue }),
    now: () => runtime.clock.nowSeconds(),
    nowMs: () => runtime.clock.nowMs(),
  });
  services.set(runtime, service);
  return service;
}

export function cibaOf(runtime: IssuerRuntime): CibaService {
  return services.get(runtime) ?? startCiba(runtime);
}

/** Stops notification retries (each ends as abandoned, logged and counted) and waits for them. */
export async function stopCiba(runtime: IssuerRuntime): Promise<void> {
  const service = services.get(runtime);
  services.delete(runtime);
  if (service) await service.close();
}
