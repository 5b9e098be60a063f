/**
 * The gateway's shared DPoP replay store (`dpop.replayStore.type: redis`): one Redis connection per
 * process, opened at start, its password from `dpop.replayStore.passwordFile` or
 * `FAPI_GATEWAY_DPOP_REPLAY_STORE_PASSWORD`, its metrics on the gateway's registry. While Redis cannot
 * answer, a proof cannot be checked for replay and the request is refused with 503 (fail closed); routes
 * that do not accept DPoP never touch it and keep working, so readiness does not follow Redis.
 */
import type { Logger } from 'pino';
import { envNameFor } from '../config/load.js';
import { RedisDpopReplayStore } from '../dpop/redis-replay-store.js';
import { redisPassword, replayStoreRedisSettings } from '../redis/config.js';
import { RedisConnection } from '../redis/connection.js';
import { redisMetrics } from '../redis/metrics.js';
import { GATEWAY_ENV_PREFIX, type GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';
import { StartupError } from './startup-error.js';

export const GATEWAY_REDIS_PASSWORD_ENV = envNameFor(GATEWAY_ENV_PREFIX, ['dpop', 'replayStore', 'password']);

export interface GatewayReplayStore {
  store: RedisDpopReplayStore;
  connection: RedisConnection;
}

/** The Redis replay store when configured (it connects in the background), else undefined. */
export function connectGatewayReplayStore(
  config: GatewayConfig,
  metrics: GatewayMetrics,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): GatewayReplayStore | undefined {
  const settings = replayStoreRedisSettings(config.dpop.replayStore);
  if (!settings) return undefined;
  let password: string | undefined;
  try {
    password = redisPassword(settings, GATEWAY_REDIS_PASSWORD_ENV, env);
  } catch (err) {
    throw new StartupError(
      'dpop.replayStore.passwordFile',
      `cannot read ${settings.passwordFile ?? ''} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: err },
    );
  }
  const connection = new RedisConnection({
    settings,
    password,
    configKey: 'dpop.replayStore',
    connectionName: 'fapi-gateway',
    log: logger,
    metrics: redisMetrics(metrics.registry, 'fapi_gateway_'),
  });
  return { store: new RedisDpopReplayStore(connection), connection };
}
