import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { redisConnectionSchema, redisPassword, type RedisSettings } from '../../src/redis/config.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { RedisUnavailableError } from '../../src/redis/errors.js';
import { redisMetrics } from '../../src/redis/metrics.js';
import { metricValue } from '../helpers/metrics-text.js';
import { testPki } from '../helpers/pki.js';
import { freePort, startRedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
  [k: string]: unknown;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

function settings(url: string, extra: Partial<RedisSettings> = {}): RedisSettings {
  return { ...redisConnectionSchema.parse({ url, connectTimeoutMs: 500, commandTimeoutMs: 300 }), ...extra };
}

class StoreDown extends Error {
  constructor(readonly operation: string) {
    super('store down');
    this.name = 'StoreDown';
  }
}

function connect(url: string, extra: Partial<RedisSettings> = {}, password?: string) {
  const registry = new Registry();
  const { log, lines } = capturingLogger();
  const connection = new RedisConnection({
    settings: settings(url, extra),
    password,
    configKey: 'storage.redis',
    connectionName: 'fapi-test',
    log,
    metrics: redisMetrics(registry, 'fapi_issuer_'),
    unavailable: (operation) => new StoreDown(operation),
    backoffMs: () => 50,
  });
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    metricValue(await registry.metrics(), name, labels);
  return { connection, lines, metric };
}

const warnings = (lines: LogLine[]) => lines.filter((l) => l.level === 40);

t.test('an outage fails requests at once, is logged and counted once, and ends by itself', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const { connection, lines, metric } = connect(server.url);
  t.teardown(() => connection.close());
  t.ok(await connection.whenAvailable(10_000), 'connects');
  t.equal(await connection.run('test.set', (r) => r.set(connection.key('k'), 'v')), 'OK');
  t.equal(await metric('fapi_issuer_redis_connected'), 1);
  t.equal(await metric('fapi_issuer_redis_command_duration_seconds_count', { operation: 'test.set' }), 1);

  await server.stop();
  await until('the connection to notice', () => !connection.available);
  const failures = await Promise.allSettled(
    Array.from({ length: 20 }, () => connection.run('test.get', (r) => r.get(connection.key('k')))),
  );
  t.ok(
    failures.every((f) => f.status === 'rejected' && f.reason instanceof StoreDown),
    "every request gets the component's unavailable error",
  );
  // Let several reconnection attempts fail.
  await new Promise((r) => setTimeout(r, 500));
  t.equal(warnings(lines).length, 1, 'one warning for the whole outage');
  t.match(warnings(lines)[0], { msg: /Redis unavailable/, redis: 'storage.redis' });
  t.equal(await metric('fapi_issuer_redis_outages_total'), 1);
  t.equal(await metric('fapi_issuer_redis_connected'), 0);
  t.equal(
    await metric('fapi_issuer_redis_command_errors_total', { operation: 'test.get', kind: 'unavailable' }),
    20,
  );

  await server.start();
  await until('reconnection', () => connection.available);
  t.equal(await connection.run('test.get', (r) => r.get(connection.key('k'))), null, 'serves again');
  t.ok(lines.some((l) => l.msg === 'Redis available again'));
  t.equal(warnings(lines).length, 1);
  t.equal(await metric('fapi_issuer_redis_connected'), 1);
});

t.test('a Redis that stops answering: commands time out, the connection is reopened', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const { connection, metric } = connect(server.url);
  t.teardown(() => connection.close());
  t.ok(await connection.whenAvailable(10_000));
  server.pause();
  const started = Date.now();
  await t.rejects(
    connection.run('test.get', (r) => r.get('x')),
    StoreDown,
  );
  t.ok(Date.now() - started < 5000, 'fails within the command timeout, not after minutes');
  t.equal(
    await metric('fapi_issuer_redis_command_errors_total', { operation: 'test.get', kind: 'timeout' }),
    1,
  );
  await until('the silent connection to be dropped', () => !connection.available);
  server.resume();
  await until('reconnection', () => connection.available);
  t.equal(await connection.run('test.ping', (r) => r.ping()), 'PONG');
});

t.test('unreachable at start: not available, one warning, connects when Redis appears', async (t) => {
  const port = await freePort();
  const { connection, lines, metric } = connect(`redis://127.0.0.1:${port}/0`);
  t.teardown(() => connection.close());
  t.equal(await connection.whenAvailable(600), false);
  await t.rejects(
    connection.run('test.get', (r) => r.get('x')),
    StoreDown,
  );
  t.equal(warnings(lines).length, 1);
  t.match(warnings(lines)[0], { msg: /unreachable at start/, reason: /ECONNREFUSED/ });
  t.equal(await metric('fapi_issuer_redis_outages_total'), 1);
});

t.test(
  'ACL user: the right password connects, a wrong one leaves the client running and not ready',
  async (t) => {
    const server = await startRedisServer({
      users: [{ name: 'fapi-issuer', password: 's3cret-pw', rules: '~fapi-issuer:* +@all' }],
      requirePass: 'default-pw',
    });
    t.teardown(() => server.close());
    const good = connect(server.url, { username: 'fapi-issuer' }, 's3cret-pw');
    t.teardown(() => good.connection.close());
    t.ok(await good.connection.whenAvailable(10_000));
    t.equal(await good.connection.run('test.set', (r) => r.set(good.connection.key('a'), '1')), 'OK');

    const bad = connect(server.url, { username: 'fapi-issuer' }, 'wrong-pw');
    t.teardown(() => bad.connection.close());
    t.equal(await bad.connection.whenAvailable(1000), false);
    await t.rejects(
      bad.connection.run('test.get', (r) => r.get('a')),
      StoreDown,
    );
    t.equal(warnings(bad.lines).length, 1, 'logged once, not once per retry');
    t.match(warnings(bad.lines)[0]?.reason, /WRONGPASS|invalid username-password/);
    t.notMatch(JSON.stringify(bad.lines), /wrong-pw/, 'the password is never logged');
  },
);

t.test('rediss:// with a private CA; an untrusted server certificate never connects', async (t) => {
  const pki = await testPki();
  const server = await startRedisServer({
    tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.ca.certFile },
  });
  t.teardown(() => server.close());
  const trusted = connect(server.url, { ca: pki.ca.certFile });
  t.teardown(() => trusted.connection.close());
  t.ok(await trusted.connection.whenAvailable(10_000));
  t.equal(await trusted.connection.run('test.ping', (r) => r.ping()), 'PONG');

  const systemCas = connect(server.url);
  t.teardown(() => systemCas.connection.close());
  t.equal(await systemCas.connection.whenAvailable(1000), false);
  t.match(warnings(systemCas.lines)[0]?.reason, /certificate/i);
});

t.test('Redis errors that are not about availability are rethrown as they are', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const { connection, metric } = connect(server.url);
  t.teardown(() => connection.close());
  t.ok(await connection.whenAvailable(10_000));
  await connection.run('test.set', (r) => r.set('s', 'x'));
  const err = await connection.run('test.hget', (r) => r.hget('s', 'f')).catch((e: unknown) => e);
  t.match(String(err), /WRONGTYPE/);
  t.notOk(err instanceof StoreDown);
  t.equal(
    await metric('fapi_issuer_redis_command_errors_total', { operation: 'test.hget', kind: 'error' }),
    1,
  );
});

t.test('without a component error, run() throws RedisUnavailableError', async (t) => {
  const port = await freePort();
  const registry = new Registry();
  const connection = new RedisConnection({
    settings: settings(`redis://127.0.0.1:${port}`),
    configKey: 'dpop.replayStore',
    connectionName: 'fapi-test',
    log: pino({ level: 'silent' }),
    metrics: redisMetrics(registry, 'fapi_gateway_'),
  });
  t.teardown(() => connection.close());
  const err = await connection.run('dpop.first_use', (r) => r.get('x')).catch((e: unknown) => e);
  t.ok(err instanceof RedisUnavailableError);
  t.match(err, { operation: 'dpop.first_use', kind: 'unavailable', code: 'store_unavailable' });
});

t.test('settings: URL checks name the fix; the password never comes from the file', async (t) => {
  const problems = (v: unknown) =>
    redisConnectionSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  t.same(problems({ url: 'rediss://redis.internal:6380/0' }), []);
  t.match(problems({ url: 'redis.internal:6379' }), [/url: must start with redis:\/\/ or rediss:\/\//]);
  t.match(problems({ url: 'not a url' }), [/url: is not a URL/]);
  t.match(problems({ url: 'https://redis.internal' }), [/must start with redis:\/\//]);
  t.match(problems({ url: 'redis://:pw@redis.internal' }), [/must not carry credentials/]);
  t.match(problems({ url: 'redis://redis.internal/99' }), [/database number/]);
  t.match(problems({ url: 'redis://redis.internal', password: 'x' }), [/password|Unrecognized/]);
  t.match(problems({ url: 'redis://redis.internal', ca: '/ca.pem' }), [
    /ca: only used with a rediss:\/\/ URL/,
  ]);

  const pki = await testPki();
  const file = pki.write('redis-password', 'from-the-file\n');
  t.equal(redisPassword({ passwordFile: file }, 'PW', { PW: 'from-env' }), 'from-the-file');
  t.equal(redisPassword({}, 'PW', { PW: 'from-env' }), 'from-env');
  t.equal(redisPassword({}, 'PW', {}), undefined);
});
