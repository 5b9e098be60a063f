/**
 * The memory store and the Redis store (a real redis-server) give the same answers to the same random
 * sequences of operations (fast-check), over a handful of ids so that operations collide: records
 * created, replaced, compared-and-set, consumed and listed; counters; first uses; grants and their
 * revocation; refresh tokens rotated and reused; access tokens revoked. Some steps run one operation
 * several times at once (Promise.all on the same key): two consumes of one code, two first uses of one
 * jti, two rotations of one refresh token; both stores then give the same set of answers (exactly one
 * winner), whatever order the winner came in.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { z } from 'zod';
import { StoreUnavailableError } from '../../../src/issuer/errors.js';
import { createMemoryStorage } from '../../../src/issuer/storage/memory-store.js';
import { recordKind } from '../../../src/issuer/storage/records.js';
import { createRedisStorage } from '../../../src/issuer/storage/redis-store.js';
import type { IssuerStorage, RefreshTokenRecord } from '../../../src/issuer/storage/store.js';
import { redisConnectionSchema } from '../../../src/redis/config.js';
import { RedisConnection } from '../../../src/redis/connection.js';
import { redisMetrics } from '../../../src/redis/metrics.js';
import { startRedisServer } from '../../helpers/redis-server.js';

const itemKind = recordKind('prop-item', z.object({ name: z.string(), n: z.number() }));
const ids = ['a', 'b', 'c'];
/** Nothing expires within a run: expiry is the contract suite's business (it needs time to pass). */
const LIVE_MS = 10 * 60_000;

type Op =
  | { op: 'create'; id: string; n: number; indexed: boolean }
  | { op: 'put'; id: string; n: number }
  | { op: 'get'; id: string }
  | { op: 'consume'; id: string }
  | { op: 'compareAndSet'; id: string; version: number; n: number }
  | { op: 'delete'; id: string }
  | { op: 'list' }
  | { op: 'increment'; id: string }
  | { op: 'firstUse'; id: string }
  | { op: 'saveGrant'; id: string }
  | { op: 'revokeGrant'; id: string }
  | { op: 'grantState'; id: string }
  | { op: 'saveRefresh'; id: string; grant: string }
  | { op: 'rotate'; from: string; to: string; grant: string }
  | { op: 'findRefresh'; id: string }
  | { op: 'revokeRefresh'; id: string }
  | { op: 'rememberAccess'; id: string; grant: string }
  | { op: 'revokeAccess'; id: string }
  | { op: 'accessState'; id: string };

const id = fc.constantFrom(...ids);
const n = fc.integer({ min: 0, max: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('create' as const), id, n, indexed: fc.boolean() }),
  fc.record({ op: fc.constant('put' as const), id, n }),
  fc.record({ op: fc.constant('get' as const), id }),
  fc.record({ op: fc.constant('consume' as const), id }),
  fc.record({ op: fc.constant('compareAndSet' as const), id, version: fc.integer({ min: 1, max: 3 }), n }),
  fc.record({ op: fc.constant('delete' as const), id }),
  fc.record({ op: fc.constant('list' as const) }),
  fc.record({ op: fc.constant('increment' as const), id }),
  fc.record({ op: fc.constant('firstUse' as const), id }),
  fc.record({ op: fc.constant('saveGrant' as const), id }),
  fc.record({ op: fc.constant('revokeGrant' as const), id }),
  fc.record({ op: fc.constant('grantState' as const), id }),
  fc.record({ op: fc.constant('saveRefresh' as const), id, grant: id }),
  // A successor is a fresh random token: never the key it replaces.
  fc
    .record({ op: fc.constant('rotate' as const), from: id, to: id, grant: id })
    .filter((o) => o.from !== o.to),
  fc.record({ op: fc.constant('findRefresh' as const), id }),
  fc.record({ op: fc.constant('revokeRefresh' as const), id }),
  fc.record({ op: fc.constant('rememberAccess' as const), id, grant: id }),
  fc.record({ op: fc.constant('revokeAccess' as const), id }),
  fc.record({ op: fc.constant('accessState' as const), id }),
);
/** A step: one operation, run `times` times at once (1: alone). */
const stepArb = fc.record({ op: opArb, times: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 4 })) });

const SECONDS = Math.floor(Date.now() / 1000);
const refresh = (key: string, grantId: string): RefreshTokenRecord => ({
  key: `rt-${key}`,
  grantId: `g-${grantId}`,
  clientId: 'client',
  sub: 'alice',
  scope: 'openid accounts',
  iat: SECONDS,
  exp: SECONDS + 600,
});

async function run(s: IssuerStorage, o: Op): Promise<unknown> {
  const until = Date.now() + LIVE_MS;
  switch (o.op) {
    case 'create':
      return s.state.create(itemKind, o.id, { name: o.id, n: o.n }, until, o.indexed ? ['user:alice'] : []);
    case 'put':
      return s.state.put(itemKind, o.id, { name: o.id, n: o.n }, until);
    case 'get':
      return s.state.get(itemKind, o.id);
    case 'consume':
      return s.state.consume(itemKind, o.id);
    case 'compareAndSet':
      return s.state.compareAndSet(itemKind, o.id, o.version, { name: o.id, n: o.n });
    case 'delete':
      return s.state.delete(itemKind, o.id);
    case 'list':
      return (await s.state.listByIndex(itemKind, 'user:alice')).sort((x, y) => x.name.localeCompare(y.name));
    case 'increment':
      return s.counters.increment('prop', o.id, until);
    case 'firstUse':
      return s.replay.firstUse('prop', o.id, until);
    case 'saveGrant':
      return s.grants.saveGrant(
        {
          grantId: `g-${o.id}`,
          clientId: 'client',
          sub: 'alice',
          scope: 'openid',
          grantType: 'authorization_code',
        },
        until,
      );
    case 'revokeGrant':
      return s.grants.revokeGrant(`g-${o.id}`, until);
    case 'grantState':
      return [await s.grants.findGrant(`g-${o.id}`), await s.grants.isGrantRevoked(`g-${o.id}`)];
    case 'saveRefresh':
      return s.refreshTokens.saveRefreshToken(refresh(o.id, o.grant));
    case 'rotate':
      return s.refreshTokens.rotateRefreshToken(`rt-${o.from}`, refresh(o.to, o.grant));
    case 'findRefresh':
      return s.refreshTokens.findRefreshToken(`rt-${o.id}`);
    case 'revokeRefresh':
      return s.refreshTokens.revokeRefreshToken(`rt-${o.id}`);
    case 'rememberAccess':
      return s.accessTokens.rememberAccessToken({
        jti: `at-${o.id}`,
        clientId: 'client',
        grantId: `g-${o.grant}`,
        exp: SECONDS + 600,
      });
    case 'revokeAccess':
      return s.accessTokens.revokeAccessToken(`at-${o.id}`, until);
    case 'accessState':
      return [
        await s.accessTokens.findAccessToken(`at-${o.id}`),
        await s.accessTokens.isAccessTokenRevoked(`at-${o.id}`),
      ];
  }
}

/** JSON with sorted keys and without undefined members: the stores may build objects in another order. */
function canonical(v: unknown): string {
  return (
    JSON.stringify(v, (_k, value: unknown) =>
      value && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(
            Object.entries(value as Record<string, unknown>)
              .filter(([, x]) => x !== undefined)
              .sort(([a], [b]) => a.localeCompare(b)),
          )
        : value,
    ) ?? 'undefined'
  );
}

/** The answers of one step: in order when alone, as a sorted multiset when run at once. */
async function step(s: IssuerStorage, o: Op, times: number): Promise<string[]> {
  const answers = await Promise.all(Array.from({ length: times }, () => run(s, o)));
  return answers.map(canonical).sort();
}

t.test('the memory and Redis stores answer random operation sequences alike', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  /** A connection under a fresh key prefix: an empty Redis store, as each memory store is empty. */
  const connect = async () => {
    const keyPrefix = `prop-${randomBytes(6).toString('hex')}:`;
    const redis = new RedisConnection({
      settings: { ...redisConnectionSchema.parse({ url: server.url, keyPrefix }), url: server.url },
      configKey: 'storage.redis',
      connectionName: 'fapi-issuer-test',
      log: pino({ level: 'silent' }),
      metrics: redisMetrics(new Registry(), 'fapi_issuer_'),
      unavailable: (operation, cause) => new StoreUnavailableError(operation, { cause }),
    });
    if (!(await redis.whenAvailable(10_000))) throw new Error('Redis did not connect');
    return redis;
  };

  let runs = 0;
  let concurrentSteps = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), async (steps) => {
      runs++;
      const memory = createMemoryStorage({ clients: [], clock: Date.now });
      const redis = await connect();
      const shared = createRedisStorage({ clients: [], redis });
      try {
        for (const [i, { op, times }] of steps.entries()) {
          if (times > 1) concurrentSteps++;
          const [m, r] = await Promise.all([step(memory, op, times), step(shared, op, times)]);
          if (canonical(m) !== canonical(r))
            throw new Error(
              `step ${i} ${canonical(op)} x${times}: memory answered ${m.join(' | ')}, Redis ${r.join(' | ')}`,
            );
        }
      } finally {
        await memory.close();
        await redis.close();
      }
    }),
    { numRuns: 150 },
  );
  t.ok(runs >= 150 && concurrentSteps > 0, `${runs} sequences, ${concurrentSteps} steps run at once`);
});
