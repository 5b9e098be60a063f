/**
 * Opaque access tokens through the whole gateway (RFC 7662): a stub authorization server answers for each
 * token; every refusal is checked completely (status, challenge, body, metric, nothing forwarded), every way
 * the endpoint fails is a 503 while JWTs and other routes keep working, and the caches bound revocation.
 */
import t, { type Test } from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import {
  startIntrospectionStub,
  type IntrospectionStub,
  type StubMode,
} from '../helpers/introspection-server.js';
import { fetchText } from '../helpers/metrics-text.js';
import { testPki } from '../helpers/pki.js';
import { TEST_AUDIENCE, TEST_ISSUER } from '../helpers/tokens.js';

function answer(thumbprint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    active: true,
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    client_id: 'client-a',
    sub: 'user-1',
    scope: 'accounts payments',
    exp: Math.floor(Date.now() / 1000) + 3600,
    cnf: { 'x5t#S256': thumbprint },
    ...extra,
  };
}

async function gatewayWithStub(
  t: Test,
  introspection: Record<string, unknown> = {},
): Promise<{ f: GatewayFixture; stub: IntrospectionStub }> {
  const pki = await testPki();
  const stub = await startIntrospectionStub(pki, {
    method: 'tls_client_auth',
    clientId: 'fapi-gateway',
    thumbprint: pki.clientB.thumbprint,
  });
  t.teardown(() => stub.close());
  const f = await startGatewayFixture(t, {
    tokens: {
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      jwksCa: pki.ca.certFile,
      algorithms: ['PS256', 'ES256'],
      clockSkewSeconds: 0,
      jwksCooldownSeconds: 30,
      introspection: {
        endpoint: stub.url,
        clientId: 'fapi-gateway',
        auth: { method: 'tls_client_auth', cert: pki.clientB.certFile, key: pki.clientB.keyFile },
        timeoutMs: 10_000,
        ...introspection,
      },
    },
  });
  return { f, stub };
}

const poll = async (what: () => Promise<boolean>, ms = 15_000): Promise<boolean> => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
};

t.test('an active, certificate-bound opaque token is forwarded with its identity', async (t) => {
  const { f, stub } = await gatewayWithStub(t);
  stub.setAnswer('opaque-a', answer(f.pki.clientA.thumbprint));
  const res = await f.request({ token: 'opaque-a' });
  t.equal(res.status, 200, res.body);
  const seen = f.upstream.last()!;
  t.equal(seen.headers['x-authenticated-client-id'], 'client-a');
  t.equal(seen.headers['x-authenticated-subject'], 'user-1');
  t.equal(seen.headers['x-authenticated-scope'], 'accounts payments');
  t.equal(stub.calls.length, 1);
  t.equal(stub.calls[0]!.authProblem, undefined, 'the stub authenticated the gateway by its certificate');
  t.equal(await f.metric('fapi_gateway_introspection_requests_total', { outcome: 'active' }), 1);
  t.equal(await f.metric('fapi_gateway_introspection_duration_seconds_count'), 1);
  t.notOk(f.logText().includes('opaque-a'), 'the token is never logged');
});

t.test('refused opaque tokens: each rule with its reason, nothing forwarded', async (t) => {
  const { f, stub } = await gatewayWithStub(t);
  const a = f.pki.clientA.thumbprint;
  const cases: [string, Record<string, unknown>, string][] = [
    ['inactive', { active: false }, 'token_inactive'],
    ['expired', answer(a, { exp: Math.floor(Date.now() / 1000) - 60 }), 'token_expired'],
    ['foreign aud', answer(a, { aud: 'https://other-api.test' }), 'token_audience'],
    ['foreign iss', answer(a, { iss: 'https://other-issuer.test' }), 'token_issuer'],
    ['no cnf', answer(a, { cnf: undefined }), 'binding_missing'],
    ['cnf of another certificate', answer(f.pki.clientB.thumbprint), 'binding_mismatch'],
    ['no client_id', answer(a, { client_id: undefined }), 'token_claims'],
  ];
  for (const [name, doc, reason] of cases) {
    await t.test(name, async (t) => {
      const token = `opaque-${reason}`;
      stub.setAnswer(token, JSON.parse(JSON.stringify(doc)) as Record<string, unknown>);
      const res = await f.request({ token });
      await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason });
    });
  }
  await t.test('the scope of the answer is checked like a JWT scope', async (t) => {
    stub.setAnswer('opaque-scope', answer(a, { scope: 'payments' }));
    const res = await f.request({ token: 'opaque-scope' });
    await expectRejection(t, f, res, {
      status: 403,
      error: 'insufficient_scope',
      reason: 'insufficient_scope',
    });
    t.match(res.headers['www-authenticate'], /scope="accounts"/);
  });
  await t.test("a cached answer is still bound: client B cannot reuse A's token", async (t) => {
    stub.setAnswer('opaque-a', answer(a));
    t.equal((await f.request({ token: 'opaque-a' })).status, 200);
    f.upstream.reset();
    const res = await f.request({ client: f.pki.clientB, token: 'opaque-a' });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
  });
});

t.test('the endpoint failing: 503 every time, never forwarded; JWTs and readiness unaffected', async (t) => {
  const { f, stub } = await gatewayWithStub(t, { timeoutMs: 5000 });
  stub.setAnswer('opaque-a', answer(f.pki.clientA.thumbprint));
  const jwt = await f.token();
  const modes: [StubMode, string][] = [
    ['hang', 'timeout'],
    ['drip', 'timeout'],
    ['reset', 'connection_error'],
    ['status_500', 'http_error'],
    ['not_json', 'invalid_response'],
    ['no_boolean_active', 'invalid_response'],
    ['huge', 'invalid_response'],
  ];
  for (const [mode, outcome] of modes) {
    await t.test(mode, async (t) => {
      stub.setMode(mode);
      const before = await f.metric('fapi_gateway_introspection_requests_total', { outcome });
      const res = await f.request({ token: 'opaque-a' });
      await expectRejection(t, f, res, {
        status: 503,
        error: 'temporarily_unavailable',
        reason: 'introspection_unavailable',
      });
      t.equal(res.headers['retry-after'], '5', 'Retry-After');
      t.equal(res.headers['www-authenticate'], undefined, 'no challenge: the token was not judged');
      t.equal(
        await f.metric('fapi_gateway_introspection_requests_total', { outcome }),
        before + 1,
        `counted as ${outcome}`,
      );
      const other = await f.request({ token: jwt });
      t.equal(other.status, 200, 'a JWT access token still passes');
      t.equal((await fetchText(f.gateway.adminPort, '/readyz')).status, 200, 'still ready');
      f.upstream.reset();
    });
  }
  t.equal(stub.calls.filter((c) => c.token === jwt).length, 0, 'the JWT was never introspected');
  const failures = f.logs.filter((l) => l.event === 'introspection_failed');
  t.same(
    failures.map((l) => l.failure),
    ['timeout', 'connection_error', 'http_error', 'invalid_response'],
    'logged once per failure kind, not per request',
  );
  stub.setMode('normal');
  t.equal((await f.request({ token: 'opaque-a' })).status, 200, 'recovered at once: failures are not cached');
});

t.test('connection refused: 503', async (t) => {
  const { f, stub } = await gatewayWithStub(t);
  await stub.close();
  const res = await f.request({ token: 'opaque-a' });
  await expectRejection(t, f, res, {
    status: 503,
    error: 'temporarily_unavailable',
    reason: 'introspection_unavailable',
  });
  t.equal(await f.metric('fapi_gateway_introspection_requests_total', { outcome: 'connection_error' }), 1);
});

t.test('single flight: concurrent first uses of one token make one call', async (t) => {
  const { f, stub } = await gatewayWithStub(t);
  stub.setAnswer('opaque-a', answer(f.pki.clientA.thumbprint));
  stub.hold();
  const n = 10;
  const all = Array.from({ length: n }, () => f.request({ token: 'opaque-a' }));
  t.ok(
    await poll(
      async () => (await f.metric('fapi_gateway_introspection_cache_total', { result: 'miss' })) === n,
    ),
    `${n} requests waiting`,
  );
  stub.release();
  const results = await Promise.all(all);
  t.same(
    results.map((r) => r.status),
    Array<number>(n).fill(200),
  );
  t.equal(stub.calls.length, 1, `one call for ${n} concurrent first uses`);
});

t.test('revocation is visible after cacheMaxSeconds; the cache never outlives exp', async (t) => {
  const { f, stub } = await gatewayWithStub(t, { cacheMaxSeconds: 1, negativeCacheSeconds: 0 });
  stub.setAnswer('opaque-a', answer(f.pki.clientA.thumbprint));
  t.equal((await f.request({ token: 'opaque-a' })).status, 200);
  stub.setAnswer('opaque-a', { active: false });
  t.ok(
    await poll(async () => (await f.request({ token: 'opaque-a' })).status === 401),
    'the revoked token is refused once the cached answer ends',
  );
  const after = stub.calls.length;
  t.ok(after >= 2 && after <= 30, `the endpoint was asked again (${after} calls)`);

  const { f: g, stub: s2 } = await gatewayWithStub(t, { cacheMaxSeconds: 3600 });
  const exp = Math.floor(Date.now() / 1000) + 8;
  s2.setAnswer('opaque-short', answer(g.pki.clientA.thumbprint, { exp }));
  const first = await g.request({ token: 'opaque-short' });
  t.equal(first.status, 200);
  t.ok(
    await poll(async () => (await g.request({ token: 'opaque-short' })).status === 401, 40_000),
    'refused once exp passes, although cacheMaxSeconds is an hour',
  );
  const last = g.logs.filter((l) => l.reason !== undefined).at(-1);
  t.equal(last?.reason, 'token_expired');
});

t.test('negative cache: a refused token is not asked about again within negativeCacheSeconds', async (t) => {
  const { f, stub } = await gatewayWithStub(t, { negativeCacheSeconds: 300 });
  for (let i = 0; i < 3; i++) {
    const res = await f.request({ token: 'opaque-dead' });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'token_inactive' });
  }
  t.equal(stub.calls.length, 1, 'one call for three uses');
  t.equal(await f.metric('fapi_gateway_introspection_cache_total', { result: 'negative_hit' }), 2);
});

t.test('JWT access tokens are not introspected unless introspectJwts', async (t) => {
  await t.test('introspectJwts false (default)', async (t) => {
    const { f, stub } = await gatewayWithStub(t);
    t.equal((await f.request({ token: await f.token() })).status, 200);
    t.equal(stub.calls.length, 0);
  });
  await t.test('introspectJwts true: verified and introspected; a revoked JWT is refused', async (t) => {
    const { f, stub } = await gatewayWithStub(t, { introspectJwts: true });
    const good = await f.token();
    stub.setAnswer(good, answer(f.pki.clientA.thumbprint));
    t.equal((await f.request({ token: good })).status, 200);
    t.same(
      stub.calls.map((c) => c.token),
      [good],
      'introspected once',
    );
    f.upstream.reset();
    const revoked = await f.token();
    stub.setAnswer(revoked, { active: false });
    const res = await f.request({ token: revoked });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'token_inactive' });
    const forged = await f.token({ claims: { iss: 'https://evil.test' } });
    const forgedRes = await f.request({ token: forged });
    await expectRejection(t, f, forgedRes, { status: 401, error: 'invalid_token', reason: 'token_issuer' });
    t.equal(stub.calls.filter((c) => c.token === forged).length, 0, 'a JWT failing local checks is not sent');
  });
});

t.test('private_key_jwt and client_secret_basic through the gateway', async (t) => {
  const pki = await testPki();
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = pki.write(
    'gw-assertion.pem',
    pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  );
  const methods = [
    {
      name: 'private_key_jwt',
      expected: {
        method: 'private_key_jwt',
        clientId: 'fapi-gateway',
        publicKey: pair.publicKey,
        audience: TEST_ISSUER,
      },
      auth: { method: 'private_key_jwt', keyFile, alg: 'ES256', kid: 'gw-1' },
    },
    {
      name: 'client_secret_basic',
      expected: { method: 'client_secret_basic', clientId: 'fapi-gateway', secret: 'a:secret' },
      auth: { method: 'client_secret_basic', clientSecret: 'a:secret' },
    },
  ] as const;
  for (const m of methods) {
    await t.test(m.name, async (t) => {
      const stub = await startIntrospectionStub(pki, m.expected);
      t.teardown(() => stub.close());
      const f = await startGatewayFixture(t, {
        tokens: {
          issuer: TEST_ISSUER,
          audience: TEST_AUDIENCE,
          jwksCa: pki.ca.certFile,
          introspection: { endpoint: stub.url, clientId: 'fapi-gateway', auth: m.auth },
        },
      });
      stub.setAnswer('opaque-a', answer(pki.clientA.thumbprint));
      t.equal((await f.request({ token: 'opaque-a' })).status, 200);
      t.equal(stub.calls[0]!.authProblem, undefined, 'the stub authenticated the gateway');
      const warned = f.logs.some((l) => l.event === 'introspection_client_secret_basic');
      t.equal(warned, m.name === 'client_secret_basic', 'a warning at start only for client_secret_basic');
      t.notOk(f.logText().includes('a:secret'), 'the secret is never logged');
    });
  }
});
