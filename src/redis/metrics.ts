/**
 * Redis client metrics, registered once per registry under the component's prefix
 * (`fapi_issuer_redis_*`, `fapi_gateway_redis_*`). The `operation` label is a store operation chosen in
 * code (`state.consume`, `dpop.first_use`, ...), never a key or a value.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RedisFailureKind } from './errors.js';

export interface RedisMetrics {
  commandDuration: Histogram<'operation'>;
  commandErrors: Counter<'operation' | 'kind'>;
  /** 1 while the connection is ready, 0 otherwise. */
  connected: Gauge;
  /** Transitions from connected (or starting) to unreachable. */
  outages: Counter;
}

export const REDIS_FAILURE_KINDS: readonly RedisFailureKind[] = ['unavailable', 'timeout', 'error'];

const byRegistry = new WeakMap<Registry, RedisMetrics>();

export function redisMetrics(registry: Registry, prefix: 'fapi_issuer_' | 'fapi_gateway_'): RedisMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const metrics: RedisMetrics = {
    commandDuration: new Histogram({
      name: `${prefix}redis_command_duration_seconds`,
      help: 'Redis round trips of store operations, by operation (failed ones included).',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    commandErrors: new Counter({
      name: `${prefix}redis_command_errors_total`,
      help: 'Failed Redis operations, by operation and kind (unavailable|timeout|error).',
      labelNames: ['operation', 'kind'],
      registers,
    }),
    connected: new Gauge({
      name: `${prefix}redis_connected`,
      help: '1 while the Redis connection is ready, 0 while it is down or reconnecting.',
      registers,
    }),
    outages: new Counter({
      name: `${prefix}redis_outages_total`,
      help: 'Times Redis became unreachable (each outage counted once, however long it lasts).',
      registers,
    }),
  };
  metrics.connected.set(0);
  byRegistry.set(registry, metrics);
  return metrics;
}
