import t from 'tap';
import { outcome, startTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { issueRefreshToken } from '../../src/issuer/tokens/refresh-token.js';

let ti: TestIssuer;
let offsetMs = 0;
t.before(async () => {
  ti = await startTestIssuer({ options: { clock: () => Date.now() + offsetMs } });
});
t.teardown(() => ti.close());

async function tokenFor(clientId: 'tls-a' | 'tls-b'): Promise<string> {
  const r = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: clientId },
    { credential: clientId === 'tls-a' ? ti.pki.clientA : ti.pki.clientB },
  );
  if (r.status !== 200) throw new Error(outcome(r));
  return r.json.access_token!;
}
const introspect = (token: string, as: 'tls-a' | 'tls-b' = 'tls-b', extra: Record<string, string> = {}) =>
  ti.postForm(
    '/introspect',
    { client_id: as, token, ...extra },
    { credential: as === 'tls-a' ? ti.pki.clientA : ti.pki.clientB },
  );
const revoke = (token: string, as: 'tls-a' | 'tls-b', extra: Record<string, string> = {}) =>
  ti.postForm(
    '/revoke',
    { client_id: as, token, ...extra },
    { credential: as === 'tls-a' ? ti.pki.clientA : ti.pki.clientB },
  );

t.test('an active access token introspects with its claims and cnf', async (t) => {
  const token = await tokenFor('tls-a');
  const r = await introspect(token);
  t.equal(r.status, 200);
  t.equal(r.headers['cache-control'], 'no-store');
  t.match(r.json, {
    active: true,
    token_type: 'Bearer',
    scope: 'accounts payments',
    client_id: 'tls-a',
    sub: 'tls-a',
    aud: 'https://api.example',
    iss: ti.issuer.url,
    cnf: { 'x5t#S256': ti.pki.clientA.thumbprint },
  });
  t.type(r.json.exp, 'number');
  t.type(r.json.iat, 'number');
});

t.test('introspection needs an authenticated caller', async (t) => {
  const token = await tokenFor('tls-a');
  const anonymous = await ti.postForm('/introspect', { token });
  t.equal(anonymous.status, 401);
  t.equal(anonymous.json.error, 'invalid_client');
  t.notOk('active' in anonymous.json);
  const wrongCert = await ti.postForm(
    '/introspect',
    { client_id: 'tls-a', token },
    { credential: ti.pki.clientB },
  );
  t.equal(wrongCert.status, 401);
  const missing = await ti.postForm('/introspect', { client_id: 'tls-a' }, { credential: ti.pki.clientA });
  t.equal(missing.status, 400);
  t.equal(missing.json.error, 'invalid_request');
});

t.test('garbage, foreign and tampered tokens are just inactive', async (t) => {
  const token = await tokenFor('tls-a');
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'admin' })).toString('base64url')}.${s}`;
  for (const bad of ['garbage', tampered, `${h}.${p}.`]) {
    const r = await introspect(bad);
    t.equal(r.status, 200);
    t.same(r.json, { active: false });
  }
});

t.test('an expired access token is inactive', async (t) => {
  const token = await tokenFor('tls-a');
  offsetMs = 301_000;
  t.teardown(() => {
    offsetMs = 0;
  });
  const r = await introspect(token);
  t.same(r.json, { active: false });
});

t.test('revocation: a revoked access token reports active: false', async (t) => {
  const token = await tokenFor('tls-a');
  const r = await revoke(token, 'tls-a', { token_type_hint: 'access_token' });
  t.equal(r.status, 200);
  t.equal(r.headers['cache-control'], 'no-store');
  t.same((await introspect(token)).json, { active: false });
});

t.test("revocation: another client's token is refused and stays active", async (t) => {
  const token = await tokenFor('tls-a');
  const r = await revoke(token, 'tls-b');
  t.equal(r.status, 400);
  t.equal(r.json.error, 'invalid_request');
  t.equal((await introspect(token)).json.active, true);
});

t.test(
  'revocation: unknown tokens answer 200, an unknown hint unsupported_token_type, no auth 401',
  async (t) => {
    t.equal((await revoke('no-such-token', 'tls-a')).status, 200);
    const hint = await revoke('x', 'tls-a', { token_type_hint: 'id_token' });
    t.equal(hint.status, 400);
    t.equal(hint.json.error, 'unsupported_token_type');
    const anonymous = await ti.postForm('/revoke', { token: 'x' });
    t.equal(anonymous.status, 401);
    t.equal(anonymous.json.error, 'invalid_client');
  },
);

t.test('refresh tokens: introspectable by their client only; revoking one revokes its grant', async (t) => {
  const rt = ti.issuer.runtime;
  await rt.storage.grants.saveGrant(
    {
      grantId: 'g-test',
      clientId: 'tls-a',
      sub: 'alice',
      scope: 'accounts',
      grantType: 'authorization_code',
    },
    rt.clock.nowMs() + 3600_000,
  );
  const refresh = await issueRefreshToken(rt, {
    grantId: 'g-test',
    clientId: 'tls-a',
    sub: 'alice',
    scope: 'accounts',
    certificate: undefined,
  });
  t.ok(Buffer.from(refresh, 'base64url').length >= 16, 'refresh token carries >= 128 bits');
  t.same((await introspect(refresh, 'tls-b')).json, { active: false }, 'another client learns nothing');
  const own = await introspect(refresh, 'tls-a', { token_type_hint: 'refresh_token' });
  t.match(own.json, {
    active: true,
    token_type: 'refresh_token',
    client_id: 'tls-a',
    sub: 'alice',
    scope: 'accounts',
  });
  t.equal((await revoke(refresh, 'tls-b')).status, 400);
  t.equal((await revoke(refresh, 'tls-a')).status, 200);
  t.same((await introspect(refresh, 'tls-a')).json, { active: false });
  t.equal(await rt.storage.grants.isGrantRevoked('g-test'), true);
});
