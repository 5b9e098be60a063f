/**
 * What every issuer storage backend must do, as one suite each backend runs: `runStoreContract(t, make)`.
 * `make` gives a fresh, empty store with its clock: a memory store advances an injected clock, a
 * shared store lets real time pass (its server judges expiry), so spans here are short but not tight.
 */
import type { Test } from 'tap';
import { z } from 'zod';
import { recordKind } from '../../../src/issuer/storage/records.js';
import type { IssuerStorage, RefreshTokenRecord } from '../../../src/issuer/storage/store.js';

export interface StoreUnderTest {
  storage: IssuerStorage;
  /** The store's clock, unix milliseconds. */
  now: () => number;
  /** Lets `ms` pass on the store's clock. */
  advance: (ms: number) => Promise<void>;
  close: () => Promise<void>;
}

const itemKind = recordKind('contract-item', z.object({ name: z.string(), n: z.number() }));
const otherKind = recordKind('contract-other', z.object({ name: z.string(), n: z.number() }));

/** Long enough that nothing expires within one step of a test. */
const LIVE_MS = 60_000;
/** Short enough to wait for with a real clock. */
const SHORT_MS = 1_500;

export function runStoreContract(t: Test, make: () => Promise<StoreUnderTest>): void {
  const withStore = (name: string, body: (s: StoreUnderTest, t: Test) => Promise<void>) =>
    t.test(name, async (t) => {
      const s = await make();
      t.teardown(() => s.close());
      await body(s, t);
    });

  withStore('create is exclusive and starts at version 1', async ({ storage, now }, t) => {
    t.equal(await storage.state.create(itemKind, 'a', { name: 'first', n: 1 }, now() + LIVE_MS), true);
    t.equal(await storage.state.create(itemKind, 'a', { name: 'second', n: 2 }, now() + LIVE_MS), false);
    t.same(await storage.state.get(itemKind, 'a'), { value: { name: 'first', n: 1 }, version: 1 });
    t.equal(
      await storage.state.create(otherKind, 'a', { name: 'x', n: 0 }, now() + LIVE_MS),
      true,
      'kinds are separate',
    );
    t.equal(await storage.state.get(itemKind, 'missing'), undefined);
  });

  withStore('of concurrent creates of one id exactly one succeeds', async ({ storage, now }, t) => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, n) =>
        storage.state.create(itemKind, 'c', { name: 'c', n }, now() + LIVE_MS),
      ),
    );
    t.equal(results.filter(Boolean).length, 1);
  });

  withStore('put is an upsert: creates, replaces, bumps the version, sets the new expiry', async (s, t) => {
    const { storage, now } = s;
    await storage.state.put(itemKind, 'p', { name: 'v1', n: 1 }, now() + LIVE_MS);
    t.same(await storage.state.get(itemKind, 'p'), { value: { name: 'v1', n: 1 }, version: 1 });
    await storage.state.put(itemKind, 'p', { name: 'v2', n: 2 }, now() + SHORT_MS);
    t.same(await storage.state.get(itemKind, 'p'), { value: { name: 'v2', n: 2 }, version: 2 });
    await s.advance(SHORT_MS + 50);
    t.equal(await storage.state.get(itemKind, 'p'), undefined, 'the later expiry applies');
  });

  withStore('consume: exactly one of concurrent consumers gets the record', async ({ storage, now }, t) => {
    await storage.state.create(itemKind, 'k', { name: 'code', n: 7 }, now() + LIVE_MS);
    const got = await Promise.all(Array.from({ length: 6 }, () => storage.state.consume(itemKind, 'k')));
    t.same(
      got.filter((g) => g !== undefined),
      [{ name: 'code', n: 7 }],
    );
    t.equal(await storage.state.get(itemKind, 'k'), undefined);
    t.equal(await storage.state.consume(itemKind, 'never'), undefined);
  });

  withStore('records expire at their absolute expiry', async (s, t) => {
    const { storage, now } = s;
    await storage.state.create(itemKind, 'e', { name: 'e', n: 1 }, now() + SHORT_MS);
    t.ok(await storage.state.get(itemKind, 'e'));
    await s.advance(SHORT_MS + 50);
    t.equal(await storage.state.get(itemKind, 'e'), undefined);
    t.equal(await storage.state.consume(itemKind, 'e'), undefined);
    t.equal(
      await storage.state.create(itemKind, 'e', { name: 'again', n: 2 }, now() + LIVE_MS),
      true,
      'the id is free again',
    );
  });

  withStore('compare-and-set writes only over the version read', async (s, t) => {
    const { storage, now } = s;
    await storage.state.create(itemKind, 'v', { name: 'v', n: 0 }, now() + SHORT_MS);
    t.equal(await storage.state.compareAndSet(itemKind, 'v', 1, { name: 'v', n: 1 }), true);
    t.equal(
      await storage.state.compareAndSet(itemKind, 'v', 1, { name: 'stale', n: 9 }),
      false,
      'stale version',
    );
    t.same(await storage.state.get(itemKind, 'v'), { value: { name: 'v', n: 1 }, version: 2 });
    t.equal(await storage.state.compareAndSet(itemKind, 'nope', 1, { name: 'x', n: 0 }), false, 'no record');
    const racers = await Promise.all(
      Array.from({ length: 5 }, (_, n) => storage.state.compareAndSet(itemKind, 'v', 2, { name: 'r', n })),
    );
    t.equal(racers.filter(Boolean).length, 1, 'one of concurrent writers over one version wins');
    await s.advance(SHORT_MS + 50);
    t.equal(await storage.state.get(itemKind, 'v'), undefined, 'compare-and-set kept the expiry');
  });

  withStore('compare-and-set can move the expiry', async (s, t) => {
    const { storage, now } = s;
    await storage.state.create(itemKind, 'm', { name: 'm', n: 0 }, now() + SHORT_MS);
    t.ok(await storage.state.compareAndSet(itemKind, 'm', 1, { name: 'm', n: 1 }, now() + LIVE_MS));
    await s.advance(SHORT_MS + 50);
    t.same((await storage.state.get(itemKind, 'm'))?.value, { name: 'm', n: 1 });
  });

  withStore('delete, and values are copies', async ({ storage, now }, t) => {
    const value = { name: 'orig', n: 1 };
    await storage.state.create(itemKind, 'd', value, now() + LIVE_MS);
    value.name = 'mutated';
    t.same((await storage.state.get(itemKind, 'd'))?.value, { name: 'orig', n: 1 });
    await storage.state.delete(itemKind, 'd');
    t.equal(await storage.state.get(itemKind, 'd'), undefined);
    await storage.state.delete(itemKind, 'd');
  });

  withStore('a value outside its kind is refused on write', async ({ storage, now }, t) => {
    const bad = { name: 1, n: 'x' } as unknown as { name: string; n: number };
    await t.rejects(storage.state.put(itemKind, 'bad', bad, now() + LIVE_MS), {
      name: 'StoredRecordInvalid',
    });
    await t.rejects(storage.state.create(itemKind, 'bad', bad, now() + LIVE_MS), {
      name: 'StoredRecordInvalid',
    });
    t.equal(await storage.state.get(itemKind, 'bad'), undefined);
  });

  withStore('listByIndex lists live records only', async (s, t) => {
    const { storage, now } = s;
    await storage.state.create(itemKind, 'r1', { name: 'r1', n: 1 }, now() + LIVE_MS, ['user:alice']);
    await storage.state.create(itemKind, 'r2', { name: 'r2', n: 2 }, now() + SHORT_MS, ['user:alice', 'all']);
    await storage.state.create(itemKind, 'r3', { name: 'r3', n: 3 }, now() + LIVE_MS, ['user:bob']);
    await storage.state.create(itemKind, 'r4', { name: 'r4', n: 4 }, now() + LIVE_MS, ['user:alice']);
    const names = async (index: string) =>
      (await storage.state.listByIndex(itemKind, index)).map((r) => r.name).sort();
    t.same(await names('user:alice'), ['r1', 'r2', 'r4']);
    t.same(await names('all'), ['r2']);
    t.same(await storage.state.listByIndex(otherKind, 'user:alice'), [], 'per kind');
    await storage.state.delete(itemKind, 'r4');
    t.same(await names('user:alice'), ['r1', 'r2'], 'deleted ones are left out');
    await s.advance(SHORT_MS + 50);
    t.same(await names('user:alice'), ['r1'], 'expired ones are left out');
    t.same(await names('nobody'), []);
  });

  withStore('counters count atomically and expire at the first expiry', async (s, t) => {
    const { storage, now } = s;
    const until = now() + SHORT_MS;
    const counts = await Promise.all(
      Array.from({ length: 16 }, () => storage.counters.increment('sign-in', 'i1', until)),
    );
    t.same(
      [...counts].sort((a, b) => a - b),
      Array.from({ length: 16 }, (_, i) => i + 1),
      'every increment got its own number',
    );
    t.equal(
      await storage.counters.increment('sign-in', 'i1', now() + LIVE_MS),
      17,
      'a later expiry is ignored',
    );
    t.equal(await storage.counters.increment('other', 'i1', now() + LIVE_MS), 1, 'namespaces are separate');
    await s.advance(SHORT_MS + 50);
    t.equal(
      await storage.counters.increment('sign-in', 'i1', now() + LIVE_MS),
      1,
      'starts again after expiry',
    );
  });

  const policy = { failuresBeforeDelay: 3, firstDelayMs: 1_000, maxDelayMs: 4_000, forgetAfterMs: LIVE_MS };

  withStore(
    'attempts: a doubling wait after the free failures, capped; blocked attempts count nothing',
    async (s, t) => {
      const { attempts } = s.storage;
      const base = s.now();
      const begin = (at: number) => attempts.beginAttempt('password-user', 'u1', at, policy);
      t.same(await begin(base), { allowed: true, failures: 1, blockedUntilMs: base });
      t.same(await begin(base), { allowed: true, failures: 2, blockedUntilMs: base });
      t.same(
        await begin(base),
        { allowed: true, failures: 3, blockedUntilMs: base + 1_000 },
        'the third earns a wait',
      );
      t.same(await begin(base), { allowed: false, retryAtMs: base + 1_000 });
      t.same(await begin(base + 999), { allowed: false, retryAtMs: base + 1_000 }, 'refusals extend nothing');
      t.same(
        await begin(base + 1_000),
        { allowed: true, failures: 4, blockedUntilMs: base + 3_000 },
        'doubled',
      );
      t.same(await begin(base + 3_000), { allowed: true, failures: 5, blockedUntilMs: base + 7_000 });
      t.same(
        await begin(base + 7_000),
        { allowed: true, failures: 6, blockedUntilMs: base + 11_000 },
        'capped',
      );
      t.same(
        await attempts.beginAttempt('password-source', 'u1', base, policy),
        { allowed: true, failures: 1, blockedUntilMs: base },
        'namespaces are separate',
      );
      t.same(
        await attempts.beginAttempt('password-user', 'u2', base, policy),
        { allowed: true, failures: 1, blockedUntilMs: base },
        'ids are separate',
      );
      await attempts.resetAttempts('password-user', 'u1');
      t.same(
        await begin(base + 8_000),
        { allowed: true, failures: 1, blockedUntilMs: base + 8_000 },
        'reset',
      );
    },
  );

  withStore('attempts: of concurrent guesses only the free ones pass', async (s, t) => {
    const base = s.now();
    const decisions = await Promise.all(
      Array.from({ length: 20 }, () => s.storage.attempts.beginAttempt('ns', 'race', base, policy)),
    );
    t.equal(decisions.filter((d) => d.allowed).length, 3);
  });

  withStore('attempts: forgiving takes one back and lifts only the wait it set', async (s, t) => {
    const { attempts } = s.storage;
    const base = s.now();
    await attempts.beginAttempt('ns', 'f', base, policy);
    await attempts.beginAttempt('ns', 'f', base, policy);
    const third = await attempts.beginAttempt('ns', 'f', base, policy);
    t.same(third, { allowed: true, failures: 3, blockedUntilMs: base + 1_000 });
    if (third.allowed) await attempts.forgiveAttempt('ns', 'f', third.blockedUntilMs, base);
    t.same(
      await attempts.beginAttempt('ns', 'f', base, policy),
      { allowed: true, failures: 3, blockedUntilMs: base + 1_000 },
      'not blocked, one failure fewer',
    );
    // A success whose wait was overtaken by a later failure leaves that failure's wait in place.
    await attempts.forgiveAttempt('ns', 'f', base, base);
    t.same(await attempts.beginAttempt('ns', 'f', base, policy), { allowed: false, retryAtMs: base + 1_000 });
    await attempts.forgiveAttempt('ns', 'never-seen', base, base);
    t.same(
      await attempts.beginAttempt('ns', 'never-seen', base, policy),
      { allowed: true, failures: 1, blockedUntilMs: base },
      'forgiving an unknown id creates nothing',
    );
    const fresh = await attempts.beginAttempt('ns', 'fresh', base, policy);
    if (fresh.allowed) await attempts.forgiveAttempt('ns', 'fresh', fresh.blockedUntilMs, base);
    t.same(
      await attempts.beginAttempt('ns', 'fresh', base, policy),
      { allowed: true, failures: 1, blockedUntilMs: base },
      'a forgiven first guess is as if it never happened',
    );
    // A success taken back after a concurrent guess read its clock (and before that guess reaches the
    // store) must not start a wait that guess meets.
    await attempts.beginAttempt('ns', 'in-flight', base, policy);
    const success = await attempts.beginAttempt('ns', 'in-flight', base, policy);
    if (success.allowed) await attempts.forgiveAttempt('ns', 'in-flight', success.blockedUntilMs, base + 50);
    t.same(
      await attempts.beginAttempt('ns', 'in-flight', base + 10, policy),
      { allowed: true, failures: 2, blockedUntilMs: base + 10 },
      'forgiving never lengthens a wait',
    );
  });

  withStore('attempts: forgotten once forgetAfterMs has passed after the wait', async (s, t) => {
    const short = { ...policy, failuresBeforeDelay: 1, firstDelayMs: 1, forgetAfterMs: SHORT_MS };
    const base = s.now();
    t.same(await s.storage.attempts.beginAttempt('ns', 'old', base, short), {
      allowed: true,
      failures: 1,
      blockedUntilMs: base + 1,
    });
    await s.advance(SHORT_MS + 50);
    const later = s.now();
    t.same(
      await s.storage.attempts.beginAttempt('ns', 'old', later, short),
      { allowed: true, failures: 1, blockedUntilMs: later + 1 },
      'starts again',
    );
  });

  withStore('replay cache: first use only, until its expiry', async (s, t) => {
    const { storage, now } = s;
    const firsts = await Promise.all(
      Array.from({ length: 5 }, () => storage.replay.firstUse('assertion:a', 'j1', now() + SHORT_MS)),
    );
    t.equal(firsts.filter(Boolean).length, 1, 'one of concurrent uses is first');
    t.equal(
      await storage.replay.firstUse('assertion:b', 'j1', now() + SHORT_MS),
      true,
      'namespaces are separate',
    );
    await s.advance(SHORT_MS + 50);
    t.equal(await storage.replay.firstUse('assertion:a', 'j1', now() + LIVE_MS), true);
  });

  withStore('grants: found until revoked; a revocation lasts until its expiry', async (s, t) => {
    const { storage, now } = s;
    const grant = {
      grantId: 'g1',
      clientId: 'c',
      sub: 'alice',
      scope: 'openid',
      grantType: 'authorization_code',
      authTime: 1_800_000_000,
      claimsRequest: { id_token: { acr: { essential: true, values: ['x'] } }, userinfo: { email: null } },
    };
    await storage.grants.saveGrant(grant, now() + LIVE_MS);
    t.same(await storage.grants.findGrant('g1'), grant);
    t.equal(await storage.grants.isGrantRevoked('g1'), false);
    await storage.grants.revokeGrant('g1', now() + SHORT_MS);
    t.equal(await storage.grants.isGrantRevoked('g1'), true);
    t.equal(await storage.grants.findGrant('g1'), undefined);
    await s.advance(SHORT_MS + 50);
    t.equal(await storage.grants.isGrantRevoked('g1'), false, 'forgotten after its expiry');
    t.equal(await storage.grants.findGrant('nope'), undefined);
  });

  withStore('refresh tokens: rotation is one transition; reuse revokes the family', async (s, t) => {
    const { storage, now } = s;
    const seconds = Math.floor(now() / 1000);
    const record = (key: string, grantId = 'g1'): RefreshTokenRecord => ({
      key,
      grantId,
      clientId: 'c',
      sub: 'alice',
      scope: 'openid',
      iat: seconds,
      exp: seconds + 3600,
    });
    await storage.grants.saveGrant(
      { grantId: 'g1', clientId: 'c', sub: 'alice', scope: 'openid', grantType: 'authorization_code' },
      now() + LIVE_MS,
    );
    await storage.refreshTokens.saveRefreshToken(record('rt1'));
    t.same(await storage.refreshTokens.findRefreshToken('rt1'), record('rt1'));
    const [a, b] = await Promise.all([
      storage.refreshTokens.rotateRefreshToken('rt1', record('rt2a')),
      storage.refreshTokens.rotateRefreshToken('rt1', record('rt2b')),
    ]);
    t.same([a.outcome, b.outcome].sort(), ['reused', 'rotated'], 'of two concurrent rotations one wins');
    t.equal(await storage.grants.isGrantRevoked('g1'), true, 'the loser revoked the family');
    t.notOk(await storage.refreshTokens.findRefreshToken('rt1'));
    t.notOk(await storage.refreshTokens.findRefreshToken('rt2a'));
    t.notOk(await storage.refreshTokens.findRefreshToken('rt2b'));
    t.equal((await storage.refreshTokens.rotateRefreshToken('nope', record('rt4'))).outcome, 'unknown');

    await storage.refreshTokens.saveRefreshToken(record('s1', 'g2'));
    const rotated = await storage.refreshTokens.rotateRefreshToken('s1', record('s2', 'g2'));
    t.same(rotated, { outcome: 'rotated', previous: record('s1', 'g2') });
    t.same(await storage.refreshTokens.findRefreshToken('s2'), record('s2', 'g2'));
    t.notOk(await storage.refreshTokens.findRefreshToken('s1'), 'a rotated token is no longer active');
    await storage.refreshTokens.revokeRefreshToken('s2');
    t.notOk(await storage.refreshTokens.findRefreshToken('s2'));
    t.equal((await storage.refreshTokens.rotateRefreshToken('s2', record('s3', 'g2'))).outcome, 'unknown');
    t.equal(await storage.grants.isGrantRevoked('g2'), false, 'revoking a token is not reuse');
  });

  withStore('refresh tokens expire at their exp', async (s, t) => {
    const { storage, now } = s;
    const exp = Math.ceil((now() + SHORT_MS) / 1000);
    await storage.refreshTokens.saveRefreshToken({
      key: 'short',
      grantId: 'g',
      clientId: 'c',
      sub: 'alice',
      scope: 'openid',
      iat: exp - 1,
      exp,
    });
    t.ok(await storage.refreshTokens.findRefreshToken('short'));
    await s.advance(exp * 1000 - now() + 50);
    t.notOk(await storage.refreshTokens.findRefreshToken('short'));
  });

  withStore('access tokens: remembered until exp; revocation until its expiry', async (s, t) => {
    const { storage, now } = s;
    const exp = Math.ceil((now() + SHORT_MS) / 1000);
    await storage.accessTokens.rememberAccessToken({ jti: 'j', clientId: 'c', exp, grantId: 'g' });
    t.same(await storage.accessTokens.findAccessToken('j'), { jti: 'j', clientId: 'c', exp, grantId: 'g' });
    t.equal(await storage.accessTokens.isAccessTokenRevoked('j'), false);
    await storage.accessTokens.revokeAccessToken('j', exp * 1000);
    t.equal(await storage.accessTokens.isAccessTokenRevoked('j'), true);
    const opaque = {
      iss: 'https://as.example',
      sub: 'alice',
      aud: 'https://api.example',
      exp,
      iat: exp - 1,
      jti: 'o',
      client_id: 'c',
      scope: 'accounts',
      cnf: { 'x5t#S256': 'thumb' },
      custom: 'kept',
    };
    await storage.accessTokens.rememberAccessToken({ jti: 'hash-of-opaque', clientId: 'c', exp, opaque });
    t.same((await storage.accessTokens.findAccessToken('hash-of-opaque'))?.opaque, opaque);
    await s.advance(exp * 1000 - now() + 50);
    t.equal(await storage.accessTokens.findAccessToken('j'), undefined);
    t.equal(await storage.accessTokens.findAccessToken('hash-of-opaque'), undefined);
    t.equal(await storage.accessTokens.isAccessTokenRevoked('j'), false);
  });

  withStore('healthy while it answers', async ({ storage }, t) => {
    t.equal(await storage.healthy(), true);
  });
}
