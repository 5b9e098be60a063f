/**
 * The issuer's Redis connection (`storage.type: redis`): settings from `storage.redis`, the password from
 * `storage.redis.passwordFile` or `FAPI_ISSUER_STORAGE_REDIS_PASSWORD`, metrics on the issuer's registry,
 * and failures surfacing as `StoreUnavailableError` (503). The Redis storage and the CIBA delivery
 * queue share it.
 */
import type { Logger } from 'pino';
import { envNameFor } from '../config/load.js';
import { redisPassword } from '../redis/config.js';
import { RedisConnection } from '../redis/connection.js';
import { redisMetrics } from '../redis/metrics.js';
import { ISSUER_ENV_PREFIX, type IssuerConfig } from './config.js';
import { StoreUnavailableError } from './errors.js';
import type { IssuerMetrics } from './metrics.js';

export const ISSUER_REDIS_PASSWORD_ENV = envNameFor(ISSUER_ENV_PREFIX, ['storage', 'redis', 'password']);

/** Opens the connection when `storage.type` is redis (it connects in the background; see `available`). */
export function connectIssuerRedis(
  config: IssuerConfig,
  metrics: IssuerMetrics,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): RedisConnection | undefined {
  const settings = config.storage.redis;
  if (config.storage.type !== 'redis' || !settings) return undefined;
  return new RedisConnection({
    settings,
    password: redisPassword(settings, ISSUER_REDIS_PASSWORD_ENV, env),
    configKey: 'storage.redis',
    connectionName: 'fapi-issuer',
    log,
    metrics: redisMetrics(metrics.registry, 'fapi_issuer_'),
    unavailable: (operation, cause) => new StoreUnavailableError(operation, { cause }),
  });
}
