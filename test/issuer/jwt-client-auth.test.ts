import t, { type Test } from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import {
  ASSERTION_TYPE,
  outcome,
  clientAssertion,
  startTestIssuer,
  type AssertionOptions,
  type TestIssuer,
} from '../helpers/issuer.js';
import { clientSigningKey, type ClientSigningKey } from '../helpers/request-objects.js';

let ti: TestIssuer;
let fapi1Key: ClientSigningKey;
t.before(async () => {
  fapi1Key = await clientSigningKey('PS256', 'jwt-fapi1-1');
  ti = await startTestIssuer({
    clients: [
      {
        clientId: 'jwt-fapi1',
        authMethod: 'private_key_jwt',
        profile: 'fapi1-advanced',
        jwks: fapi1Key.jwks,
        scopes: ['accounts'],
      },
    ],
  });
});
t.teardown(() => ti.close());

const jwtClient = (o: Partial<AssertionOptions> = {}) =>
  clientAssertion({
    clientId: 'jwt-client',
    audience: ti.issuer.url,
    key: ti.jwtClient.privateKey,
    kid: 'jwt-client-1',
    ...o,
  });

async function token(
  assertion: string,
  extra: Record<string, string> = {},
  listener: 'main' | 'mtls' = 'mtls',
) {
  return ti.postForm(
    '/token',
    {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
      ...extra,
    },
    { listener, credential: listener === 'mtls' ? ti.pki.clientA : undefined },
  );
}

function refused(t: Test, r: Awaited<ReturnType<typeof token>>, description: RegExp) {
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
  t.match(r.json.error_description, description);
  t.equal(r.headers['cache-control'], 'no-store');
  t.notOk('access_token' in r.json, 'nothing issued');
}

t.test('private_key_jwt (FAPI 2): aud must be the issuer identifier as a string', async (t) => {
  // FAPI 2 SP §5.3.2.1-8: the issuer identifier as the sole value, a string, nothing else.
  const r = await token(await jwtClient({ audience: ti.issuer.url }));
  t.equal(r.status, 200, outcome(r));
  for (const audience of [`${ti.issuer.url}/token`, `${ti.issuer.mtlsUrl}/token`, [ti.issuer.url]]) {
    refused(t, await token(await jwtClient({ audience })), /issuer identifier/);
  }
});

t.test(
  'private_key_jwt (FAPI 1 Advanced client): the token endpoint URL or a one-element array too',
  async (t) => {
    const fapi1 = (audience: string | string[]) =>
      clientAssertion({ clientId: 'jwt-fapi1', audience, key: fapi1Key.privateKey, kid: fapi1Key.kid });
    for (const audience of [
      ti.issuer.url,
      `${ti.issuer.url}/token`,
      `${ti.issuer.mtlsUrl}/token`,
      [ti.issuer.url],
    ]) {
      const r = await token(await fapi1(audience));
      t.equal(r.status, 200, `aud ${JSON.stringify(audience)}: ${outcome(r)}`);
    }
    refused(t, await token(await fapi1([ti.issuer.url, 'https://evil.example'])), /single value/);
  },
);

t.test('private_key_jwt with a certificate on the connection: the token is bound to it', async (t) => {
  const r = await token(await jwtClient());
  t.same(decodeJwt(r.json.access_token as string).cnf, { 'x5t#S256': ti.pki.clientA.thumbprint });
});

t.test('private_key_jwt without a certificate or DPoP proof (main listener): no unbound token', async (t) => {
  // FAPI 2 SP §5.3.2.1 and FAPI 1 Advanced §5.2.2-5: access tokens are sender-constrained.
  const r = await token(await jwtClient(), {}, 'main');
  t.equal(r.status, 400);
  t.equal(r.json.error, 'invalid_request');
  t.match(r.json.error_description, /sender-constrained/);
  t.notOk('access_token' in r.json, 'nothing issued');
  t.equal(r.headers['cache-control'], 'no-store');
});

t.test('private_key_jwt: signed with another key', async (t) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  refused(t, await token(await jwtClient({ key: privateKey })), /signature/);
});

t.test('private_key_jwt: wrong aud, several auds, or a resource URL', async (t) => {
  refused(t, await token(await jwtClient({ audience: 'https://evil.example' })), /aud/);
  refused(
    t,
    await token(await jwtClient({ audience: [ti.issuer.url, 'https://evil.example'] })),
    /issuer identifier/,
  );
  refused(t, await token(await jwtClient({ audience: `${ti.issuer.url}/jwks` })), /aud/);
});

t.test('private_key_jwt: expired assertion', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  refused(t, await token(await jwtClient({ expiresIn: -120, iat: now - 180 })), /expired/);
});

t.test('private_key_jwt: exp too far ahead (assertions must be short-lived)', async (t) => {
  refused(t, await token(await jwtClient({ expiresIn: 3600 })), /short-lived|lifetime/);
});

t.test('private_key_jwt: missing exp, missing jti, iss != sub', async (t) => {
  refused(t, await token(await jwtClient({ omit: ['exp'] })), /"exp"/);
  refused(t, await token(await jwtClient({ omit: ['jti'] })), /"jti"/);
  refused(t, await token(await jwtClient({ claims: { iss: 'someone-else' }, omit: ['iss'] })), /"iss"/);
});

t.test('private_key_jwt: a replayed jti is refused', async (t) => {
  const assertion = await jwtClient({ jti: 'once-only' });
  const first = await token(assertion);
  t.equal(first.status, 200);
  refused(t, await token(assertion), /replay/);
  refused(t, await token(await jwtClient({ jti: 'once-only' })), /replay/);
});

t.test('private_key_jwt: HS256 with the public key as secret, and alg none, are refused', async (t) => {
  const hs = await clientAssertion({
    clientId: 'jwt-client',
    audience: ti.issuer.url,
    key: new TextEncoder().encode(JSON.stringify(ti.jwtClient.publicJwk)),
  });
  refused(t, await token(hs), /algorithm/);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const none = `${b64({ alg: 'none' })}.${b64({ iss: 'jwt-client', sub: 'jwt-client', aud: ti.issuer.url, exp: now + 60, jti: 'n1' })}.`;
  refused(t, await token(none), /algorithm|malformed/);
});

t.test('private_key_jwt: a JWT of another type (an access token) is not an assertion', async (t) => {
  refused(t, await token(await jwtClient({ typ: 'at+jwt' })), /typ/);
});

t.test('private_key_jwt: client_id parameter must match the assertion', async (t) => {
  refused(t, await token(await jwtClient(), { client_id: 'tls-a' }), /client_id/);
});

t.test('private_key_jwt: wrong client_assertion_type, garbage assertion', async (t) => {
  const r = await ti.postForm(
    '/token',
    {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:other',
      client_assertion: await jwtClient(),
    },
    { credential: ti.pki.clientA },
  );
  refused(t, r, /client_assertion_type/);
  refused(t, await token('not-a-jwt'), /not a JWT/);
});

t.test('client_secret_jwt: HS256 with the registered secret works; another secret does not', async (t) => {
  const good = await clientAssertion({
    clientId: 'secret-client',
    audience: ti.issuer.url,
    key: new TextEncoder().encode(ti.clientSecret),
  });
  const ok = await token(good);
  t.equal(ok.status, 200, outcome(ok));
  const bad = await clientAssertion({
    clientId: 'secret-client',
    audience: ti.issuer.url,
    key: new TextEncoder().encode(randomBytes(32).toString('base64url')),
  });
  refused(t, await token(bad), /signature/);
});

t.test('client_secret_jwt: an asymmetric assertion is not accepted for a secret client', async (t) => {
  refused(
    t,
    await token(
      await clientAssertion({
        clientId: 'secret-client',
        audience: ti.issuer.url,
        key: ti.jwtClient.privateKey,
      }),
    ),
    /algorithm/,
  );
});

t.test('client_secret_basic is refused with 401 and a Basic challenge', async (t) => {
  const r = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials' },
    {
      credential: ti.pki.clientA,
      headers: {
        authorization: `Basic ${Buffer.from(`secret-client:${ti.clientSecret}`).toString('base64')}`,
      },
    },
  );
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
  t.match(r.headers['www-authenticate'], /^Basic /);
  t.match(r.json.error_description, /client_secret_basic/);
  t.equal(r.headers['cache-control'], 'no-store');
});

t.test('client_secret_post is refused with invalid_client', async (t) => {
  const r = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'secret-client', client_secret: ti.clientSecret },
    { credential: ti.pki.clientA },
  );
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
  t.notOk(r.headers['www-authenticate']);
  t.match(r.json.error_description, /client_secret_post/);
});

t.test('two authentication methods in one request are refused (RFC 6749 §2.3)', async (t) => {
  const r = await ti.postForm(
    '/token',
    {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await jwtClient(),
      client_secret: 'x',
    },
    { credential: ti.pki.clientA },
  );
  t.equal(r.status, 400);
  t.equal(r.json.error, 'invalid_request');
});
