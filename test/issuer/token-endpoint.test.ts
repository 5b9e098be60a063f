import t from 'tap';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { httpsRequest, outcome, rsaClientKeys, startTestIssuer, type TestIssuer } from '../helpers/issuer.js';

let ti: TestIssuer;
t.before(async () => {
  ti = await startTestIssuer({
    clients: [
      {
        clientId: 'no-cc',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Other,CN=client-b',
        grantTypes: ['authorization_code'],
        redirectUris: ['https://client.example/cb'],
        // an authorization_code client needs keys for its request objects (checked at start)
        jwks: { keys: [(await rsaClientKeys('no-cc-1')).publicJwk] },
        scopes: ['accounts'],
      },
    ],
  });
});
t.teardown(() => ti.close());

const asA = (params: Record<string, string>) =>
  ti.postForm('/token', { client_id: 'tls-a', ...params }, { credential: ti.pki.clientA });

t.test('the access token is an RFC 9068 JWT signed with the published key', async (t) => {
  const r = await asA({ grant_type: 'client_credentials', scope: 'payments' });
  t.equal(r.status, 200, outcome(r));
  t.equal(r.json.scope, 'payments');
  t.equal(r.json.expires_in, 300);
  const token = r.json.access_token!;
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  t.ok(token.length > 200);
  const jwks = (await ti.get('/jwks')).json as { keys: [] };
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: ti.issuer.url,
    audience: 'https://api.example',
    typ: 'at+jwt',
  });
  t.same(protectedHeader, { alg: 'PS256', kid: 'test-1', typ: 'at+jwt' });
  t.same(Object.keys(payload).sort(), [
    'aud',
    'client_id',
    'cnf',
    'exp',
    'iat',
    'iss',
    'jti',
    'scope',
    'sub',
  ]);
  t.equal(payload.exp! - payload.iat!, 300);
  t.ok(Buffer.from(payload.jti!, 'base64url').length >= 16, 'jti carries >= 128 bits');
  t.same(payload.cnf, { 'x5t#S256': ti.pki.clientA.thumbprint });
  const again = await asA({ grant_type: 'client_credentials' });
  t.not(decodeProtectedHeader(again.json.access_token!).kid, undefined);
  t.not(again.json.access_token, token, 'every token is fresh');
});

t.test('grant_type errors: missing, unsupported, not registered for the client', async (t) => {
  const missing = await asA({});
  t.equal(missing.status, 400);
  t.equal(missing.json.error, 'invalid_request');
  const unsupported = await asA({ grant_type: 'password', username: 'x', password: 'y' });
  t.equal(unsupported.status, 400);
  t.equal(unsupported.json.error, 'unsupported_grant_type');
  const notRegistered = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'no-cc' },
    { credential: ti.pki.clientB },
  );
  t.equal(notRegistered.status, 400);
  t.equal(notRegistered.json.error, 'unauthorized_client');
});

t.test('scope errors: not registered, malformed, openid without a user', async (t) => {
  for (const scope of ['admin', 'accounts admin', 'openid', 'acc"ounts']) {
    const r = await asA({ grant_type: 'client_credentials', scope });
    t.equal(r.status, 400, scope);
    t.equal(r.json.error, 'invalid_scope', scope);
    t.notOk('access_token' in r.json);
  }
});

t.test('request format: form body only, no repeated parameters, size limit, POST only', async (t) => {
  const json = await httpsRequest(`${ti.issuer.mtlsUrl}/token`, {
    ca: ti.pki.ca.certPem,
    credential: ti.pki.clientA,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'tls-a' }),
  });
  t.equal(json.status, 400);
  t.equal(json.json.error, 'invalid_request');
  const repeated = await httpsRequest(`${ti.issuer.mtlsUrl}/token`, {
    ca: ti.pki.ca.certPem,
    credential: ti.pki.clientA,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=tls-a&scope=accounts&scope=payments',
  });
  t.equal(repeated.status, 400);
  t.match(repeated.json.error_description, /repeated/);
  const big = await asA({ grant_type: 'client_credentials', padding: 'x'.repeat(70_000) });
  t.equal(big.status, 413);
  t.equal(big.json.error, 'invalid_request');
  const get = await ti.get('/token', { listener: 'mtls', credential: ti.pki.clientA });
  t.equal(get.status, 405);
  t.equal(get.headers.allow, 'POST');
  t.equal(get.headers['cache-control'], 'no-store');
  const unknown = await ti.get('/nope');
  t.equal(unknown.status, 404);
});

t.test('invalid UTF-8 and an empty body get standard errors, not a crash', async (t) => {
  const bad = await httpsRequest(`${ti.issuer.mtlsUrl}/token`, {
    ca: ti.pki.ca.certPem,
    credential: ti.pki.clientA,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: Buffer.concat([
      Buffer.from('grant_type=client_credentials&client_id=tls-a&scope='),
      Buffer.from([0xff, 0xfe]),
    ]),
  });
  t.equal(bad.status, 400);
  t.equal(bad.json.error, 'invalid_request');
  t.match(bad.json.error_description, /UTF-8/);
  const empty = await httpsRequest(`${ti.issuer.mtlsUrl}/token`, {
    ca: ti.pki.ca.certPem,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
  });
  t.equal(empty.status, 401);
  t.equal(empty.json.error, 'invalid_client');
});
