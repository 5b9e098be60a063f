// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import { createMemoryStorage } from '../../src/issuer/storage/memory-store.js';
import type { RefreshTokenRecord } from '../../src/issuer/storage/store.js';

function storageAt() {
  let now = 1_800_000_000_000;
  const storage = createMemoryStorage({ clients: [], clock: () => now });
  return {
    storage,
    advance: (seconds: number) => (now += seconds * 1000),
    nowSeconds: () => Math.floor(now / 1000),
  };
}

t.test('state: create is exclusive, consume is single use, records expire', async (t) => {
  const { storage, advance } = storageAt();
  t.teardown(() => storage.close());
  t.equal(await storage.state.create('code', 'c1', { clientId: 'a' }, 60), true);
  t.equal(await storage.state.create('code', 'c1', { clientId: 'b' }, 60), false);
  const [first, second] = await Promise.all([
    storage.state.consume('code', 'c1'),
    storage.state.consume('code', 'c1'),
  ]);
  t.same(first, { clientId: 'a' });
  t.equal(second, undefined, 'only one consumer gets it');
  await storage.state.create('par', 'p1', { x: 1 }, 10);
  advance(11);
  t.equal(await storage.state.get('par', 'p1'), undefined);
});

t.test(
  'state: values are copies (JSON), update is read-modify-write, indexes list live records',
  async (t) => {
    const { storage, advance } = storageAt();
    t.teardown(() => storage.close());
    const value = { status: 'pending', polls: 0 };
    await storage.state.create('ciba', 'r1', value, 120, ['user:alice']);
    await storage.state.create('ciba', 'r2', value, 10, ['user:alice']);
    value.status = 'mutated';
    t.same(await storage.state.get('ciba', 'r1'), { status: 'pending', polls: 0 });
    const updated = await storage.state.update<{ status: string; polls: number }>('ciba', 'r1', (c) => ({
      value: { ...c, polls: c.polls + 1 },
    }));
    t.same(updated, { status: 'pending', polls: 1 });
    t.same((await storage.state.listByIndex('ciba', 'user:alice')).sort(), ['r1', 'r2']);
    advance(11);
    t.same(await storage.state.listByIndex('ciba', 'user:alice'), ['r1']);
    t.equal(await storage.state.update('ciba', 'gone', (c) => ({ value: c })), undefined);
  },
);

t.test('replay cache: first use only, until the TTL passes', async (t) => {
  const { storage, advance } = storageAt();
  t.teardown(() => storage.close());
  t.equal(await storage.replay.firstUse('assertion:a', 'j1', 60), true);
  t.equal(await storage.replay.firstUse('assertion:a', 'j1', 60), false);
  t.equal(await storage.replay.firstUse('assertion:b', 'j1', 60), true, 'namespaces are separate');
  advance(61);
  t.equal(await storage.replay.firstUse('assertion:a', 'j1', 60), true);
});

t.test('refresh tokens: rotation, and reuse of a rotated token revokes the family', async (t) => {
  const { storage, nowSeconds } = storageAt();
  t.teardown(() => storage.close());
  const record = (key: string): RefreshTokenRecord => ({
    key,
    grantId: 'g1',
    clientId: 'c',
    sub: 'alice',
    scope: 'openid',
    iat: nowSeconds(),
    exp: nowSeconds() + 3600,
  });
  await storage.grants.saveGrant(
    { grantId: 'g1', clientId: 'c', sub: 'alice', scope: 'openid', grantType: 'authorization_code' },
    3600,
  );
  await storage.refreshTokens.saveRefreshToken(record('rt1'));
  t.equal((await storage.refreshTokens.rotateRefreshToken('rt1', record('rt2'))).outcome, 'rotated');
  t.ok(await storage.refreshTokens.findRefreshToken('rt2'));
  t.notOk(await storage.refreshTokens.findRefreshToken('rt1'), 'a rotated token is no longer active');
  t.equal((await storage.refreshTokens.rotateRefreshToken('rt1', record('rt3'))).outcome, 'reused');
  t.equal(await storage.grants.isGrantRevoked('g1'), true);
  t.notOk(await storage.refreshTokens.findRefreshToken('rt2'), 'the whole family is dead');
  t.notOk(await storage.refreshTokens.findRefreshToken('rt3'), 'nothing was stored for the reuse');
  t.equal((await storage.refreshTokens.rotateRefreshToken('nope', record('rt4'))).outcome, 'unknown');
});

t.test('access tokens: revocation is remembered until the token expires', async (t) => {
  const { storage, advance, nowSeconds } = storageAt();
  t.teardown(() => storage.close());
  await storage.accessTokens.rememberAccessToken({
    jti: 'j',
    clientId: 'c',
    exp: nowSeconds() + 60,
    grantId: 'g',
  });
  t.same((await storage.accessTokens.findAccessToken('j'))?.grantId, 'g');
  await storage.accessTokens.revokeAccessToken('j', 60);
  t.equal(await storage.accessTokens.isAccessTokenRevoked('j'), true);
  advance(61);
  t.equal(await storage.accessTokens.findAccessToken('j'), undefined);
});
