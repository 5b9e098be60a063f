/**
 * The Redis DPoP replay store as two gateway replicas use it: two connections to one Redis, each with
 * its own metrics. A key accepted through one is refused through the other, concurrent first uses have
 * exactly one winner, keys expire with their window, and an unreachable Redis rejects (fail closed).
 */
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { RedisDpopReplayStore } from '../../src/dpop/redis-replay-store.js';
import { replayStoreRedisSettings, replayStoreSchema } from '../../src/redis/config.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { RedisUnavailableError } from '../../src/redis/errors.js';
import { redisMetrics } from '../../src/redis/metrics.js';
import { metricValue } from '../helpers/metrics-text.js';
import { startRedisServer } from '../helpers/redis-server.js';

function replica(url: string) {
  const settings = replayStoreRedisSettings(replayStoreSchema.parse({ type: 'redis', url }));
  if (!settings) throw new Error('no settings');
  const registry = new Registry();
  const connection = new RedisConnection({
    settings,
    configKey: 'dpop.replayStore',
    connectionName: 'fapi-gateway',
    log: pino({ level: 'silent' }),
    metrics: redisMetrics(registry, 'fapi_gateway_'),
    backoffMs: () => 50,
  });
  return { connection, registry, store: new RedisDpopReplayStore(connection) };
}

t.test(
  'a proof key accepted by one replica is refused by the other; one winner under concurrency',
  async (t) => {
    const server = await startRedisServer();
    t.teardown(() => server.close());
    const a = replica(server.url);
    const b = replica(server.url);
    t.teardown(() => a.connection.close());
    t.teardown(() => b.connection.close());
    t.ok(await a.connection.whenAvailable(10_000));
    t.ok(await b.connection.whenAvailable(10_000));

    t.equal(await a.store.firstUse('k1', 60), true);
    t.equal(await b.store.firstUse('k1', 60), false, 'replayed on the other replica');
    t.equal(await a.store.firstUse('k1', 60), false, 'replayed on the same replica');

    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).store.firstUse('k2', 60)),
    );
    t.equal(answers.filter(Boolean).length, 1, 'exactly one of 40 concurrent uses wins');

    const admin = server.admin();
    t.same(
      (await admin.keys('*')).sort(),
      ['fapi-gateway:dpop-jti:k1', 'fapi-gateway:dpop-jti:k2'],
      'every key under the prefix',
    );
    const ttl = await admin.pttl('fapi-gateway:dpop-jti:k1');
    t.ok(ttl > 50_000 && ttl <= 60_000, 'every key carries the window as its TTL');
    t.equal(
      metricValue(await a.registry.metrics(), 'fapi_gateway_redis_command_duration_seconds_count', {
        operation: 'dpop.first_use',
      }),
      22,
    );
  },
);

t.test('a key may be used again once its window has passed', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const a = replica(server.url);
  t.teardown(() => a.connection.close());
  t.ok(await a.connection.whenAvailable(10_000));
  t.equal(await a.store.firstUse('short', 0.2), true);
  t.equal(await a.store.firstUse('short', 0.2), false);
  const start = Date.now();
  while (!(await a.store.firstUse('short', 0.2))) {
    if (Date.now() - start > 10_000) throw new Error('the key never expired');
    await new Promise((r) => setTimeout(r, 50));
  }
  t.pass('expired');
});

t.test('Redis down: firstUse rejects (the caller fails closed), and works again after', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const a = replica(server.url);
  t.teardown(() => a.connection.close());
  t.ok(await a.connection.whenAvailable(10_000));
  await server.stop();
  await t.rejects(a.store.firstUse('k', 60), RedisUnavailableError);
  await server.start();
  t.ok(await a.connection.whenAvailable(20_000));
  t.equal(await a.store.firstUse('k', 60), true, 'the refused proof was not remembered');
});
