import t from 'tap';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { outcome, startTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { issueRefreshToken } from '../../src/issuer/tokens/refresh-token.js';
import type { TestCredential } from '../helpers/pki.js';

// tls-a owns tokens; tls-b is another client; `rs` is a resource server registered with
// `introspection: true`; tls-a-opaque is tls-a's certificate registered for opaque tokens.
type Caller = 'tls-a' | 'tls-b' | 'rs' | 'tls-a-opaque';
let ti: TestIssuer;
let offsetMs = 0;
t.before(async () => {
  ti = await startTestIssuer({
    options: { clock: () => Date.now() + offsetMs },
    clients: [
      {
        clientId: 'rs',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Other,CN=client-b',
        introspection: true,
      },
      {
        clientId: 'tls-a-opaque',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Acme,CN=client-a',
        scopes: ['accounts'],
        accessTokenFormat: 'opaque',
      },
    ],
  });
});
t.teardown(() => ti.close());

const credentialOf = (c: Caller): TestCredential =>
  c === 'tls-a' || c === 'tls-a-opaque' ? ti.pki.clientA : ti.pki.clientB;

async function tokenFor(clientId: Caller): Promise<string> {
  const r = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: clientId },
    { credential: credentialOf(clientId) },
  );
  if (r.status !== 200) throw new Error(outcome(r));
  return r.json.access_token!;
}
const introspect = (
  token: string,
  as: Caller = 'rs',
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
) =>
  ti.postForm('/introspect', { client_id: as, token, ...extra }, { credential: credentialOf(as), headers });
const revoke = (token: string, as: Caller, extra: Record<string, string> = {}) =>
  ti.postForm('/revoke', { client_id: as, token, ...extra }, { credential: credentialOf(as) });

t.test('a resource server (introspection: true) gets the claims of any active token', async (t) => {
  const token = await tokenFor('tls-a');
  const r = await introspect(token, 'rs');
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

t.test('a client learns about its own tokens only (RFC 7662 §4)', async (t) => {
  const token = await tokenFor('tls-a');
  const own = await introspect(token, 'tls-a');
  t.match(own.json, { active: true, client_id: 'tls-a', scope: 'accounts payments' });
  const other = await introspect(token, 'tls-b');
  t.equal(other.status, 200);
  t.same(other.json, { active: false }, 'exactly what garbage gets');
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
  t.equal(wrongCert.json.error, 'invalid_client');
  const basic = await ti.postForm(
    '/introspect',
    { token },
    { headers: { authorization: `Basic ${Buffer.from('rs:secret').toString('base64')}` } },
  );
  t.equal(basic.status, 401, 'client_secret_basic is no FAPI method');
  t.equal(basic.json.error, 'invalid_client');
  const missing = await ti.postForm('/introspect', { client_id: 'tls-a' }, { credential: ti.pki.clientA });
  t.equal(missing.status, 400);
  t.equal(missing.json.error, 'invalid_request');
});

t.test('garbage, foreign and tampered tokens are just inactive', async (t) => {
  const token = await tokenFor('tls-a');
  const [h, p, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'admin' })).toString('base64url')}.${s}`;
  t.equal((await introspect(token)).json.active, true, 'the genuine token, verified first');
  for (const bad of ['garbage', tampered, `${h}.${p}.`, `${h}.${p}.${s}x`, 'A'.repeat(43)]) {
    const r = await introspect(bad);
    t.equal(r.status, 200);
    t.same(r.json, { active: false });
  }
});

t.test('an expired access token is inactive, also after it was introspected while active', async (t) => {
  const token = await tokenFor('tls-a');
  t.equal((await introspect(token)).json.active, true, 'active (and verified once)');
  offsetMs = 301_000;
  t.teardown(() => {
    offsetMs = 0;
  });
  const r = await introspect(token);
  t.same(r.json, { active: false });
});

t.test('RFC 9701: a JWT-secured answer signed by the issuer, for the caller', async (t) => {
  const token = await tokenFor('tls-a');
  const r = await introspect(token, 'rs', {}, { accept: 'application/token-introspection+jwt' });
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'application/token-introspection+jwt');
  t.equal(r.headers['cache-control'], 'no-store');
  t.equal(decodeProtectedHeader(r.text).typ, 'token-introspection+jwt');
  const jwks = (await ti.get('/jwks')).json as unknown as JSONWebKeySet;
  const { payload } = await jwtVerify(r.text, createLocalJWKSet(jwks), {
    issuer: ti.issuer.url,
    audience: 'rs',
    typ: 'token-introspection+jwt',
    algorithms: ['PS256'],
  });
  t.type(payload.iat, 'number');
  t.match(payload.token_introspection, {
    active: true,
    client_id: 'tls-a',
    cnf: { 'x5t#S256': ti.pki.clientA.thumbprint },
  });
  const inactive = await introspect(
    'garbage',
    'tls-b',
    {},
    { accept: 'application/token-introspection+jwt' },
  );
  const verified = await jwtVerify(inactive.text, createLocalJWKSet(jwks), { audience: 'tls-b' });
  t.same(verified.payload.token_introspection, { active: false });
  const discovery = await ti.get('/.well-known/oauth-authorization-server');
  t.same(discovery.json.introspection_signing_alg_values_supported, ['PS256']);
});

t.test('revocation: a revoked access token reports active: false', async (t) => {
  const token = await tokenFor('tls-a');
  t.equal((await introspect(token)).json.active, true, 'active before');
  t.equal((await introspect(token)).json.active, true, 'introspected again: still active');
  const r = await revoke(token, 'tls-a', { token_type_hint: 'access_token' });
  t.equal(r.status, 200);
  t.equal(r.headers['cache-control'], 'no-store');
  t.same((await introspect(token)).json, { active: false });
});

t.test("revocation: another client's token answers 200 and stays active (RFC 7009 §2.2)", async (t) => {
  const token = await tokenFor('tls-a');
  const r = await revoke(token, 'tls-b');
  t.equal(r.status, 200);
  t.same(r.json, {});
  t.equal((await introspect(token)).json.active, true);
  t.equal((await revoke(token, 'rs')).status, 200, 'not even a resource server revokes it');
  t.equal((await introspect(token)).json.active, true);
});

t.test(
  'revocation: unknown tokens answer 200, a hint that does not fit is ignored, no auth 401',
  async (t) => {
    t.equal((await revoke('no-such-token', 'tls-a')).status, 200);
    // RFC 7009 §2.1: the server extends its search beyond the hint; the hint is never a reason to fail.
    for (const hint of ['id_token', 'refresh_token']) {
      const token = await tokenFor('tls-a');
      const r = await revoke(token, 'tls-a', { token_type_hint: hint });
      t.equal(r.status, 200, `hint ${hint}`);
      t.same((await introspect(token)).json, { active: false }, `hint ${hint}: the access token is revoked`);
    }
    const anonymous = await ti.postForm('/revoke', { token: 'x' });
    t.equal(anonymous.status, 401);
    t.equal(anonymous.json.error, 'invalid_client');
  },
);

t.test('opaque access tokens: issued, introspected, revoked', async (t) => {
  const token = await tokenFor('tls-a-opaque');
  t.notOk(token.includes('.'), 'not a JWT');
  t.ok(Buffer.from(token, 'base64url').length >= 32, 'at least 256 bits');
  const store = ti.issuer.runtime.storage.accessTokens;
  t.equal(await store.findAccessToken(token), undefined, 'the store does not hold the value itself');

  const full = await introspect(token, 'rs');
  t.match(full.json, {
    active: true,
    token_type: 'Bearer',
    client_id: 'tls-a-opaque',
    sub: 'tls-a-opaque',
    scope: 'accounts',
    aud: 'https://api.example',
    iss: ti.issuer.url,
    cnf: { 'x5t#S256': ti.pki.clientA.thumbprint },
  });
  t.type(full.json.exp, 'number');
  t.type(full.json.iat, 'number');
  t.match((await introspect(token, 'tls-a-opaque')).json, { active: true, client_id: 'tls-a-opaque' });
  t.same((await introspect(token, 'tls-b')).json, { active: false }, 'another client learns nothing');
  t.same((await introspect(token, 'tls-a')).json, { active: false }, 'not even one sharing its certificate');
  const anonymous = await ti.postForm('/introspect', { token });
  t.equal(anonymous.status, 401);
  t.equal(anonymous.json.error, 'invalid_client');

  t.equal((await revoke(token, 'tls-b')).status, 200);
  t.equal((await introspect(token)).json.active, true, "another client's revocation does nothing");
  t.equal((await revoke(token, 'tls-a-opaque')).status, 200);
  t.same((await introspect(token)).json, { active: false });
  t.same((await introspect(token, 'tls-a-opaque')).json, { active: false });
});

t.test('opaque access tokens expire with their TTL', async (t) => {
  const token = await tokenFor('tls-a-opaque');
  offsetMs = 301_000;
  t.teardown(() => {
    offsetMs = 0;
  });
  t.same((await introspect(token)).json, { active: false });
});

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
  t.match((await introspect(refresh, 'rs')).json, { active: true, token_type: 'refresh_token' });
  t.equal((await revoke(refresh, 'tls-b')).status, 200);
  t.equal((await introspect(refresh, 'tls-a')).json.active, true, "another client's revocation does nothing");
  t.equal((await revoke(refresh, 'tls-a')).status, 200);
  t.same((await introspect(refresh, 'tls-a')).json, { active: false });
  t.equal(await rt.storage.grants.isGrantRevoked('g-test'), true);
});
