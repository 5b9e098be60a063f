/**
 * The issuer's store in Redis (`storage.type: redis`), shared by every replica. Each "check then change"
 * is one Lua script or one single-key command, so it is atomic on the server whichever replica sends it:
 * create-if-absent, consume, compare-and-set on a version, counter increments, first use (`SET NX PXAT`),
 * refresh-token rotation. Every key gets a TTL from the caller's absolute expiry (`PEXPIREAT`/`PXAT`),
 * so Redis forgets what the flows no longer need without a sweeper.
 *
 * Key layout (Redis Cluster): each record's keys share one hash tag, `<keyPrefix>{<space>:<id>}`, so a
 * script only touches keys of one slot. Operations that span records (a refresh rotation and its grant's
 * revocation, a record and its index entries) are built so that the single-use decision is one atomic
 * step on one key and what follows is idempotent; see docs/replicas.md.
 *
 * What comes back is decoded with the record kind's codec (never cast), and a Redis that cannot answer
 * surfaces as the connection's "unavailable" error (503), with nothing half-written by this process.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisConnection } from '../../redis/connection.js';
import type { ClientConfig } from '../config.js';
import { ConfigClientRepository } from './memory-store.js';
import {
  accessTokenKind,
  grantKind,
  recordKind,
  refreshTokenSchema,
  StoredRecordInvalid,
  type RecordKind,
} from './records.js';
import type { IssuerStorage, RefreshTokenRecord, RotationOutcome, Versioned } from './store.js';

/** A Lua script run by its SHA-1 (`EVALSHA`), sent in full once if the server does not know it yet. */
class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // After a Redis restart or SCRIPT FLUSH the script cache is empty: one more round trip.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT'))
        return client.eval(this.source, keys.length, ...keys, ...args);
      throw err;
    }
  }
}

/** Upsert: new text, version + 1 (1 for a new record), the given expiry. */
const PUT = new LuaScript(`
redis.call('HSET', KEYS[1], 't', ARGV[1])
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return v`);

/** Create-if-absent at version 1. */
const CREATE = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 't', ARGV[1], 'v', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1`);

/** Get-and-delete. */
const CONSUME = new LuaScript(`
local t = redis.call('HGET', KEYS[1], 't')
if t then redis.call('DEL', KEYS[1]) end
return t`);

/** Write only over `expectedVersion`; HSET keeps the TTL unless a new expiry is given. */
const COMPARE_AND_SET = new LuaScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v or tonumber(v) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 't', ARGV[2], 'v', tonumber(v) + 1)
if ARGV[3] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return 1`);

/**
 * Adds an id to an index (a sorted set scored by the record's expiry at creation), drops entries past
 * their expiry on the server's clock, and keeps the index until its last entry expires.
 */
const INDEX_ADD = new LuaScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local now = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now[1] * 1000 + math.floor(now[2] / 1000)))
local exp = tonumber(ARGV[2])
if redis.call('PEXPIRETIME', KEYS[1]) < exp then redis.call('PEXPIREAT', KEYS[1], exp) end
return 1`);

/** The ids of an index whose entries have not expired on the server's clock. */
const INDEX_LIST = new LuaScript(`
local now = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now[1] * 1000 + math.floor(now[2] / 1000)))
return redis.call('ZRANGE', KEYS[1], 0, -1)`);

/** The first increment sets the expiry; later ones keep it. */
const INCREMENT = new LuaScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return n`);

/**
 * One guess of a subject (store.ts AttemptStore): refused while blocked (`{0, retryAt}`), else counted with
 * the wait it earns (`{1, failures, blockedUntil}`); the record lives `forget` ms past the wait. Times are
 * the caller's (replicas judge a block by one clock value, the one the caller compares with).
 */
const ATTEMPT_BEGIN = new LuaScript(`
local now = tonumber(ARGV[1])
local before, first, max, forget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'f', 'u')
local f = tonumber(v[1]) or 0
local u = tonumber(v[2]) or 0
if now < u then return {0, string.format('%.0f', u)} end
f = f + 1
local delay = 0
if f >= before then delay = math.min(max, first * 2 ^ math.min(f - before, 30)) end
u = now + delay
redis.call('HSET', KEYS[1], 'f', f, 'u', string.format('%.0f', u))
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', u + forget))
return {1, f, string.format('%.0f', u)}`);

/** Takes one counted attempt back; its wait is lifted (never lengthened) unless a later failure moved it. */
const ATTEMPT_FORGIVE = new LuaScript(`
local v = redis.call('HMGET', KEYS[1], 'f', 'u')
if not v[1] then return 0 end
local f = tonumber(v[1])
if f > 0 then f = f - 1 end
local u = v[2]
if tonumber(u) == tonumber(ARGV[1]) and tonumber(ARGV[2]) < tonumber(u) then u = ARGV[2] end
if f == 0 and tonumber(u) <= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'f', f, 'u', u)
return 1`);

/** A revocation marker kept until the later of its current and the given expiry. */
const REVOKE_UNTIL = new LuaScript(`
local exp = tonumber(ARGV[1])
local current = redis.call('PEXPIRETIME', KEYS[1])
if current > exp then exp = current end
redis.call('SET', KEYS[1], '1', 'PXAT', exp)
return 1`);

/** A refresh token: its record text (`r`) and state (`s`: active, rotated, revoked). */
const REFRESH_SAVE = new LuaScript(`
redis.call('HSET', KEYS[1], 'r', ARGV[1], 's', 'active')
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1`);

/**
 * RFC 9700 §4.14.2 rotation, the single-use step: an active token becomes rotated; the answer is the
 * record and the state it had before, so of concurrent rotations exactly one sees `active`.
 */
const REFRESH_ROTATE = new LuaScript(`
local e = redis.call('HMGET', KEYS[1], 'r', 's')
if not e[1] then return false end
if e[2] == 'active' then redis.call('HSET', KEYS[1], 's', 'rotated') end
return e`);

const REFRESH_REVOKE = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 's', 'revoked')
return 1`);

const refreshRecordKind = recordKind<RefreshTokenRecord>('refresh', refreshTokenSchema);

type RefreshState = 'active' | 'rotated' | 'revoked';

function refreshState(value: unknown): RefreshState {
  if (value === 'active' || value === 'rotated' || value === 'revoked') return value;
  throw new StoredRecordInvalid('refresh', 'no valid state');
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined;

export interface RedisStorageOptions {
  clients: readonly ClientConfig[];
  redis: RedisConnection;
}

export function createRedisStorage(options: RedisStorageOptions): IssuerStorage {
  const { redis } = options;
  const prefix = redis.keyPrefix;
  const run = <T>(operation: string, command: (client: Redis) => Promise<T>) => redis.run(operation, command);

  // One hash tag per record: every key of one record is in one slot.
  const stateKey = (kind: RecordKind<unknown>, id: string) => `${prefix}{st:${kind.name}:${id}}`;
  const indexKey = (kind: RecordKind<unknown>, index: string) => `${prefix}{ix:${kind.name}:${index}}`;
  const grantKey = (grantId: string) => `${prefix}{gr:${grantId}}`;
  const grantRevokedKey = (grantId: string) => `${prefix}{gr:${grantId}}:revoked`;
  const refreshKey = (key: string) => `${prefix}{rt:${key}}`;
  const accessKey = (jti: string) => `${prefix}{at:${jti}}`;
  const accessRevokedKey = (jti: string) => `${prefix}{at:${jti}}:revoked`;
  const attemptKey = (namespace: string, id: string) => `${prefix}{ak:${namespace}:${id}}`;

  const readState = async <T>(
    client: Redis,
    kind: RecordKind<T>,
    id: string,
  ): Promise<Versioned<T> | undefined> => {
    const [t, v] = await client.hmget(stateKey(kind, id), 't', 'v');
    if (t === null || t === undefined) return undefined;
    return { value: kind.decode(t), version: Number(v) };
  };
  const revokeGrant = (grantId: string, expiresAtMs: number) =>
    run('grants.revoke', (c) => REVOKE_UNTIL.run(c, [grantRevokedKey(grantId)], [Math.ceil(expiresAtMs)]));
  const isGrantRevoked = async (grantId: string) =>
    (await run('grants.is_revoked', (c) => c.exists(grantRevokedKey(grantId)))) === 1;
  const saveRefresh = (record: RefreshTokenRecord) => {
    const encoded = refreshRecordKind.encode(record);
    return run('refresh.save', (c) =>
      REFRESH_SAVE.run(c, [refreshKey(record.key)], [encoded, record.exp * 1000]),
    );
  };

  return {
    clients: new ConfigClientRepository(options.clients),

    state: {
      async put(kind, id, value, expiresAtMs) {
        const encoded = kind.encode(value);
        await run('state.put', (c) => PUT.run(c, [stateKey(kind, id)], [encoded, Math.ceil(expiresAtMs)]));
      },
      async create(kind, id, value, expiresAtMs, indexes = []) {
        const encoded = kind.encode(value);
        const expiry = Math.ceil(expiresAtMs);
        const created =
          (await run('state.create', (c) => CREATE.run(c, [stateKey(kind, id)], [encoded, expiry]))) === 1;
        // The index entries are added once the record exists (another slot each): a reader may miss a
        // record for one round trip, never list one that was not created.
        if (created && indexes.length > 0)
          await run('state.index', (c) =>
            Promise.all(indexes.map((index) => INDEX_ADD.run(c, [indexKey(kind, index)], [id, expiry]))),
          );
        return created;
      },
      get(kind, id) {
        return run('state.get', (c) => readState(c, kind, id));
      },
      async consume(kind, id) {
        const t = text(await run('state.consume', (c) => CONSUME.run(c, [stateKey(kind, id)], [])));
        return t === undefined ? undefined : kind.decode(t);
      },
      async compareAndSet(kind, id, expectedVersion, value, expiresAtMs) {
        const encoded = kind.encode(value);
        const expiry = expiresAtMs === undefined ? '' : Math.ceil(expiresAtMs);
        const wrote = await run('state.compare_and_set', (c) =>
          COMPARE_AND_SET.run(c, [stateKey(kind, id)], [expectedVersion, encoded, expiry]),
        );
        return wrote === 1;
      },
      async delete(kind, id) {
        await run('state.delete', (c) => c.del(stateKey(kind, id)));
      },
      async listByIndex(kind, index) {
        const ids = await run('state.list_index', (c) => INDEX_LIST.run(c, [indexKey(kind, index)], []));
        if (!Array.isArray(ids) || ids.length === 0) return [];
        // Deleted records are left out here; their index entries go when they expire.
        const records = await run('state.list_records', (c) =>
          Promise.all(ids.map((id) => readState(c, kind, String(text(id))))),
        );
        return records.flatMap((r) => (r ? [r.value] : []));
      },
    },

    counters: {
      async increment(namespace, id, expiresAtMs) {
        const n = await run('counters.increment', (c) =>
          INCREMENT.run(c, [`${prefix}{ct:${namespace}:${id}}`], [Math.ceil(expiresAtMs)]),
        );
        return Number(n);
      },
    },

    attempts: {
      async beginAttempt(namespace, id, nowMs, policy) {
        const reply = await run('attempts.begin', (c) =>
          ATTEMPT_BEGIN.run(
            c,
            [attemptKey(namespace, id)],
            [
              Math.floor(nowMs),
              policy.failuresBeforeDelay,
              policy.firstDelayMs,
              policy.maxDelayMs,
              policy.forgetAfterMs,
            ],
          ),
        );
        if (!Array.isArray(reply)) throw new Error('attempts.begin: unexpected reply');
        const [allowed, second, third] = reply as unknown[];
        if (Number(allowed) !== 1) return { allowed: false, retryAtMs: Number(text(second) ?? second) };
        return { allowed: true, failures: Number(second), blockedUntilMs: Number(text(third) ?? third) };
      },
      async forgiveAttempt(namespace, id, blockedUntilMs, nowMs) {
        await run('attempts.forgive', (c) =>
          ATTEMPT_FORGIVE.run(
            c,
            [attemptKey(namespace, id)],
            [Math.floor(blockedUntilMs), Math.floor(nowMs)],
          ),
        );
      },
      async resetAttempts(namespace, id) {
        await run('attempts.reset', (c) => c.del(attemptKey(namespace, id)));
      },
    },

    replay: {
      async firstUse(namespace, id, expiresAtMs) {
        const reply = await run('replay.first_use', (c) =>
          c.set(`${prefix}{rp:${namespace}:${id}}`, '1', 'PXAT', Math.max(1, Math.ceil(expiresAtMs)), 'NX'),
        );
        return reply === 'OK';
      },
    },

    grants: {
      async saveGrant(grant, expiresAtMs) {
        const encoded = grantKind.encode(grant);
        await run('grants.save', (c) =>
          c.set(grantKey(grant.grantId), encoded, 'PXAT', Math.max(1, Math.ceil(expiresAtMs))),
        );
      },
      async findGrant(grantId) {
        // Both keys share the grant's hash tag: one MGET.
        const [t, revoked] = await run('grants.find', (c) =>
          c.mget(grantKey(grantId), grantRevokedKey(grantId)),
        );
        if (revoked !== null || t === null || t === undefined) return undefined;
        return grantKind.decode(t);
      },
      async revokeGrant(grantId, expiresAtMs) {
        await revokeGrant(grantId, expiresAtMs);
      },
      isGrantRevoked,
    },

    refreshTokens: {
      async saveRefreshToken(record) {
        await saveRefresh(record);
      },
      async findRefreshToken(key) {
        const [r, s] = await run('refresh.find', (c) => c.hmget(refreshKey(key), 'r', 's'));
        if (r === null || r === undefined || refreshState(s) !== 'active') return undefined;
        const record = refreshRecordKind.decode(r);
        return (await isGrantRevoked(record.grantId)) ? undefined : record;
      },
      async rotateRefreshToken(oldKey, next): Promise<RotationOutcome> {
        refreshRecordKind.encode(next);
        const reply = await run('refresh.rotate', (c) => REFRESH_ROTATE.run(c, [refreshKey(oldKey)], []));
        if (!Array.isArray(reply)) return { outcome: 'unknown' };
        const previous = refreshRecordKind.decode(String(text(reply[0])));
        const state = refreshState(text(reply[1]));
        if (state === 'revoked') return { outcome: 'unknown' };
        const familyExpiry = previous.exp * 1000;
        if (state === 'rotated') {
          // RFC 9700 §4.14.2: a rotated refresh token presented again means one of the two holders is
          // an attacker; revoke the whole family.
          await revokeGrant(previous.grantId, familyExpiry);
          return { outcome: 'reused', previous };
        }
        // This caller won the rotation. The successor is written while the family is checked (one
        // round trip); a successor of a revoked family is removed and never handed out.
        const [revoked] = await Promise.all([isGrantRevoked(previous.grantId), saveRefresh(next)]);
        if (revoked) {
          await run('refresh.delete', (c) => c.del(refreshKey(next.key)));
          await revokeGrant(previous.grantId, familyExpiry);
          return { outcome: 'reused', previous };
        }
        return { outcome: 'rotated', previous };
      },
      async revokeRefreshToken(key) {
        await run('refresh.revoke', (c) => REFRESH_REVOKE.run(c, [refreshKey(key)], []));
      },
    },

    accessTokens: {
      async rememberAccessToken(record) {
        const encoded = accessTokenKind.encode(record);
        await run('access.remember', (c) =>
          c.set(accessKey(record.jti), encoded, 'PXAT', Math.max(1, record.exp * 1000)),
        );
      },
      async findAccessToken(jti) {
        const t = await run('access.find', (c) => c.get(accessKey(jti)));
        return t === null ? undefined : accessTokenKind.decode(t);
      },
      async revokeAccessToken(jti, expiresAtMs) {
        await run('access.revoke', (c) =>
          c.set(accessRevokedKey(jti), '1', 'PXAT', Math.max(1, Math.ceil(expiresAtMs))),
        );
      },
      async isAccessTokenRevoked(jti) {
        return (await run('access.is_revoked', (c) => c.exists(accessRevokedKey(jti)))) === 1;
      },
    },

    healthy: () => Promise.resolve(redis.available),
    // The connection belongs to the issuer (the CIBA delivery queue shares it) and is closed by it.
    close: () => Promise.resolve(),
  };
}
