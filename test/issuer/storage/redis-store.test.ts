/**
 * The store contract against the Redis store and a real redis-server (every record kind, version, expiry
 * judged by the server's clock, and race of the contract, each test under its own key prefix); plus what
 * only a shared store has: records written by someone else, an outage, and the round trips each
 * operation costs.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { z } from 'zod';
import { StoreUnavailableError } from '../../../src/issuer/errors.js';
import { recordKind } from '../../../src/issuer/storage/records.js';
import { createRedisStorage } from '../../../src/issuer/storage/redis-store.js';
import { redisConnectionSchema } from '../../../src/redis/config.js';
import { RedisConnection } from '../../../src/redis/connection.js';
import { redisMetrics } from '../../../src/redis/metrics.js';
import { startRedisServer, type TestRedisServer } from '../../helpers/redis-server.js';
import { runStoreContract } from './store-contract.js';

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function redisStore(
  server: TestRedisServer,
  keyPrefix = `contract-${randomBytes(4).toString('hex')}:`,
) {
  const redis = new RedisConnection({
    settings: {
      ...redisConnectionSchema.parse({ url: server.url, keyPrefix, commandTimeoutMs: 500 }),
      url: server.url,
    },
    configKey: 'storage.redis',
    connectionName: 'fapi-issuer-test',
    log: pino({ level: 'silent' }),
    metrics: redisMetrics(new Registry(), 'fapi_issuer_'),
    unavailable: (operation, cause) => new StoreUnavailableError(operation, { cause }),
    backoffMs: () => 50,
  });
  if (!(await redis.whenAvailable(10_000))) throw new Error('Redis did not connect');
  const storage = createRedisStorage({ clients: [], redis });
  return {
    redis,
    storage,
    keyPrefix,
    now: Date.now,
    advance: pause,
    close: async () => {
      await storage.close();
      await redis.close();
    },
  };
}

const itemKind = recordKind('item', z.object({ name: z.string() }));

t.test('redis store', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  runStoreContract(t, () => redisStore(server));
});

t.test('a record that does not decode as its kind is refused, not trusted', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const s = await redisStore(server, 'odd:');
  t.teardown(() => s.close());
  const admin = server.admin();
  await admin.hset('odd:{st:item:x}', 't', '{"name":42}', 'v', '1');
  await t.rejects(s.storage.state.get(itemKind, 'x'), { name: 'StoredRecordInvalid', kind: 'item' });
  await t.rejects(s.storage.state.consume(itemKind, 'x'), { name: 'StoredRecordInvalid' });
  await admin.set('odd:{at:j}', 'not json');
  await t.rejects(s.storage.accessTokens.findAccessToken('j'), { name: 'StoredRecordInvalid' });
});

t.test('every key has a TTL and carries its record hash tag under the prefix', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const s = await redisStore(server, 'ttl:');
  t.teardown(() => s.close());
  const until = Date.now() + 60_000;
  const seconds = Math.floor(Date.now() / 1000);
  await s.storage.state.create(itemKind, 'a', { name: 'a' }, until, ['user:alice']);
  await s.storage.state.put(itemKind, 'b', { name: 'b' }, until);
  await s.storage.counters.increment('n', 'i', until);
  await s.storage.replay.firstUse('ns', 'j', until);
  await s.storage.grants.saveGrant(
    { grantId: 'g', clientId: 'c', sub: 'alice', scope: 'openid', grantType: 'authorization_code' },
    until,
  );
  await s.storage.grants.revokeGrant('g', until);
  const record = {
    key: 'r1',
    grantId: 'g2',
    clientId: 'c',
    sub: 'alice',
    scope: 'openid',
    iat: seconds,
    exp: seconds + 60,
  };
  await s.storage.refreshTokens.saveRefreshToken(record);
  await s.storage.refreshTokens.rotateRefreshToken('r1', { ...record, key: 'r2' });
  await s.storage.accessTokens.rememberAccessToken({ jti: 'j', clientId: 'c', exp: seconds + 60 });
  await s.storage.accessTokens.revokeAccessToken('j', until);
  await s.storage.attempts.beginAttempt('sign-in', 'u', Date.now(), {
    failuresBeforeDelay: 1,
    firstDelayMs: 1_000,
    maxDelayMs: 1_000,
    forgetAfterMs: 50_000,
  });
  const admin = server.admin();
  const keys = (await admin.keys('*')).sort();
  t.same(
    keys,
    [
      'ttl:{at:j}',
      'ttl:{at:j}:revoked',
      'ttl:{ak:sign-in:u}',
      'ttl:{ct:n:i}',
      'ttl:{gr:g}:revoked',
      'ttl:{gr:g}',
      'ttl:{ix:item:user:alice}',
      'ttl:{rp:ns:j}',
      'ttl:{rt:r1}',
      'ttl:{rt:r2}',
      'ttl:{st:item:a}',
      'ttl:{st:item:b}',
    ].sort(),
  );
  for (const key of keys) {
    const ttl = await admin.pttl(key);
    t.ok(ttl > 0 && ttl <= 61_000, `${key} expires (${ttl} ms)`);
  }
});

t.test('a guess forgiven back to no failures leaves no key behind', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const s = await redisStore(server, 'forgive:');
  t.teardown(() => s.close());
  const policy = {
    failuresBeforeDelay: 3,
    firstDelayMs: 1_000,
    maxDelayMs: 1_000,
    forgetAfterMs: 86_400_000,
  };
  const now = Date.now();
  // A made-up username from a source that is waiting: counted, then forgiven when the source refuses.
  const fresh = await s.storage.attempts.beginAttempt('sign-in', 'made-up', now, policy);
  if (fresh.allowed) await s.storage.attempts.forgiveAttempt('sign-in', 'made-up', fresh.blockedUntilMs, now);
  // A user with a real failure before: forgiving the second keeps the first.
  await s.storage.attempts.beginAttempt('sign-in', 'known', now, policy);
  const second = await s.storage.attempts.beginAttempt('sign-in', 'known', now, policy);
  if (second.allowed) await s.storage.attempts.forgiveAttempt('sign-in', 'known', second.blockedUntilMs, now);
  t.same(await server.admin().keys('*'), ['forgive:{ak:sign-in:known}']);
  t.same(
    await s.storage.attempts.beginAttempt('sign-in', 'known', now, policy),
    { allowed: true, failures: 2, blockedUntilMs: now },
    'the earlier failure still counts',
  );
});

t.test('Redis down: every operation fails with the store-unavailable error, then works again', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const s = await redisStore(server, 'down:');
  t.teardown(() => s.close());
  const until = Date.now() + 60_000;
  await s.storage.state.create(itemKind, 'code', { name: 'code' }, until);
  await server.stop();
  await t.rejects(s.storage.state.consume(itemKind, 'code'), {
    name: 'StoreUnavailableError',
    error: 'temporarily_unavailable',
    status: 503,
    operation: 'state.consume',
  });
  await t.rejects(s.storage.replay.firstUse('ns', 'j', until), { name: 'StoreUnavailableError' });
  t.equal(await s.storage.healthy(), false, 'not healthy (readiness 503)');
  await server.start();
  const start = Date.now();
  while (!(await s.storage.healthy())) {
    if (Date.now() - start > 20_000) throw new Error('not back after 20 s');
    await pause(25);
  }
  // Persistence is off, so the restarted server is empty; the store works again without a new connection.
  t.equal(await s.storage.replay.firstUse('ns', 'j', until), true);
  t.equal(await s.storage.replay.firstUse('ns', 'j', until), false);
});

t.test('Redis commands and sequential round trips per operation', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const s = await redisStore(server, 'rt:');
  t.teardown(() => s.close());
  // Warm the script cache (the first EVALSHA of a script on a fresh server costs one more EVAL).
  const client = s.redis.client;
  let commands = 0;
  const original = client.sendCommand.bind(client);
  client.sendCommand = (...args: Parameters<typeof original>) => {
    commands++;
    return original(...args);
  };
  const count = async (what: string, op: () => Promise<unknown>) => {
    commands = 0;
    await op();
    return { what, commands };
  };
  const until = Date.now() + 60_000;
  const seconds = Math.floor(Date.now() / 1000);
  const rt = (key: string) => ({
    key,
    grantId: 'g',
    clientId: 'c',
    sub: 'alice',
    scope: 'openid',
    iat: seconds,
    exp: seconds + 60,
  });
  // Once to load each script, then measured.
  const ops: [string, () => Promise<unknown>][] = [
    [
      'state.create',
      () => s.storage.state.create(itemKind, randomBytes(4).toString('hex'), { name: 'x' }, until),
    ],
    ['state.consume', () => s.storage.state.consume(itemKind, 'none')],
    ['state.compareAndSet', () => s.storage.state.compareAndSet(itemKind, 'none', 1, { name: 'x' })],
    ['replay.firstUse', () => s.storage.replay.firstUse('ns', randomBytes(4).toString('hex'), until)],
    ['counters.increment', () => s.storage.counters.increment('ns', 'i', until)],
    ['grants.findGrant', () => s.storage.grants.findGrant('g')],
    ['refresh.find', () => s.storage.refreshTokens.findRefreshToken('none')],
  ];
  for (const [, op] of ops) await op();
  const measured = [];
  for (const [what, op] of ops) measured.push(await count(what, op));
  await s.storage.refreshTokens.saveRefreshToken(rt('a'));
  await s.storage.refreshTokens.rotateRefreshToken('a', rt('b'));
  measured.push(
    await count('refresh.rotate', () => s.storage.refreshTokens.rotateRefreshToken('b', rt('c'))),
  );
  t.comment(measured.map((m) => `${m.what}: ${m.commands} command(s)`).join(', '));
  for (const m of measured.slice(0, 5)) t.equal(m.commands, 1, `${m.what} is one round trip`);
  // A rotation: the atomic step on the old token, then the family check and the successor together.
  t.equal(measured.at(-1)?.commands, 3, 'refresh.rotate: 3 commands in 2 sequential round trips');
});
