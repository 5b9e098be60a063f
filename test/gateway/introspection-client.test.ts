/**
 * The introspection verifier against a stub authorization server over real HTTPS: each client
 * authentication method as the server checks it, every way the endpoint fails (503, nothing cached),
 * the total deadline against a dripping endpoint, single flight, and the two caches under an injected clock.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { IntrospectionClient } from '../../src/gateway/introspection/client.js';
import { clientAuthentication } from '../../src/gateway/introspection/client-auth.js';
import { IntrospectionVerifier } from '../../src/gateway/introspection/verifier.js';
import { introspectionSchema } from '../../src/gateway/config.js';
import { trustedCas } from '../../src/gateway/jwks-cache.js';
import { startIntrospectionStub, type ExpectedClientAuth } from '../helpers/introspection-server.js';
import { testPki, type TestPki } from '../helpers/pki.js';
import { TEST_AUDIENCE, TEST_ISSUER } from '../helpers/tokens.js';
import { isReject } from '../../src/gateway/tokens/verifier.js';

const POLICY = { issuer: TEST_ISSUER, audience: [TEST_AUDIENCE], clockSkewSeconds: 0 };

function activeAnswer(thumbprint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    active: true,
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    client_id: 'client-a',
    sub: 'user-1',
    scope: 'accounts',
    exp: Math.floor(Date.now() / 1000) + 3600,
    cnf: { 'x5t#S256': thumbprint },
    ...extra,
  };
}

interface Setup {
  pki: TestPki;
  verifier: IntrospectionVerifier;
  stub: Awaited<ReturnType<typeof startIntrospectionStub>>;
  logs: Record<string, unknown>[];
  outcomes: string[];
  cache: string[];
  clock: { ms: number };
}

async function setup(
  t: { teardown(fn: () => unknown): void },
  auth: Record<string, unknown> | undefined,
  expected: (pki: TestPki) => ExpectedClientAuth,
  o: { timeoutMs?: number; cacheMaxSeconds?: number; negativeCacheSeconds?: number } = {},
): Promise<Setup> {
  const pki = await testPki();
  const stub = await startIntrospectionStub(pki, expected(pki));
  t.teardown(() => stub.close());
  const config = introspectionSchema.parse({
    endpoint: stub.url,
    clientId: 'fapi-gateway',
    auth: auth ?? { method: 'tls_client_auth', cert: pki.clientB.certFile, key: pki.clientB.keyFile },
    timeoutMs: o.timeoutMs ?? 10_000,
    cacheMaxSeconds: o.cacheMaxSeconds ?? 60,
    negativeCacheSeconds: o.negativeCacheSeconds ?? 10,
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l.trim()) logs.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const outcomes: string[] = [];
  const cache: string[] = [];
  const clock = { ms: Date.now() };
  const verifier = new IntrospectionVerifier({
    client: new IntrospectionClient({
      endpoint: config.endpoint,
      auth: clientAuthentication(config, TEST_ISSUER),
      ca: trustedCas(pki.ca.certPem),
      timeoutMs: config.timeoutMs,
    }),
    policy: POLICY,
    cacheMaxSeconds: config.cacheMaxSeconds,
    negativeCacheSeconds: config.negativeCacheSeconds,
    cacheMaxEntries: 100,
    logger: pino({ level: 'info' }, sink),
    onCall: (outcome) => outcomes.push(outcome),
    onCache: (r) => cache.push(r),
    now: () => clock.ms,
  });
  t.teardown(() => verifier.stop());
  return { pki, verifier, stub, logs, outcomes, cache, clock };
}

const tlsExpected = (pki: TestPki): ExpectedClientAuth => ({
  method: 'tls_client_auth',
  clientId: 'fapi-gateway',
  thumbprint: pki.clientB.thumbprint,
});

t.test(
  'tls_client_auth: the gateway presents its certificate and sends client_id (RFC 8705 §2)',
  async (t) => {
    const s = await setup(t, undefined, tlsExpected);
    s.stub.setAnswer('opaque-1', activeAnswer(s.pki.clientA.thumbprint));
    const v = await s.verifier.verify('opaque-1');
    t.notOk(isReject(v), JSON.stringify(v));
    t.equal(s.stub.calls.length, 1);
    t.equal(s.stub.calls[0]!.authProblem, undefined, 'the stub accepted the certificate');
    t.equal(s.stub.calls[0]!.form.get('token'), 'opaque-1', 'POST token=<t>');
    t.same(s.outcomes, ['active']);
  },
);

t.test(
  'tls_client_auth with a certificate the server does not expect is a failure, not a refusal',
  async (t) => {
    const s = await setup(t, undefined, (pki) => ({
      ...tlsExpected(pki),
      thumbprint: pki.clientA.thumbprint,
    }));
    s.stub.setAnswer('opaque-1', activeAnswer(s.pki.clientA.thumbprint));
    const v = await s.verifier.verify('opaque-1');
    t.ok(isReject(v) && v.reason === 'introspection_unavailable' && v.status === 503);
    t.same(s.outcomes, ['http_error']);
  },
);

for (const alg of ['PS256', 'ES256'] as const) {
  t.test(`private_key_jwt (${alg}): a signed assertion with a fresh jti on every call`, async (t) => {
    const pair =
      alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pki = await testPki();
    const keyFile = pki.write(
      `assertion-${alg}.pem`,
      pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    );
    const s = await setup(
      t,
      { method: 'private_key_jwt', keyFile, alg, kid: 'k1' },
      () => ({
        method: 'private_key_jwt',
        clientId: 'fapi-gateway',
        publicKey: pair.publicKey,
        audience: TEST_ISSUER,
      }),
      { cacheMaxSeconds: 0 },
    );
    s.stub.setAnswer('opaque-1', activeAnswer(pki.clientA.thumbprint));
    for (let i = 0; i < 3; i++) t.notOk(isReject(await s.verifier.verify('opaque-1')), `call ${i}`);
    t.equal(s.stub.calls.length, 3, 'cacheMaxSeconds 0: every use is introspected');
    t.same(
      s.stub.calls.map((c) => c.authProblem),
      [undefined, undefined, undefined],
      'the stub verified each assertion',
    );
    t.equal(new Set(s.stub.calls.map((c) => c.jti)).size, 3, 'three different jti');
  });
}

t.test('private_key_jwt refuses a key that cannot sign the configured alg, naming the key', async (t) => {
  const pki = await testPki();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = pki.write(
    'rsa-for-es256.pem',
    rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  );
  const config = introspectionSchema.parse({
    endpoint: 'https://as.test/introspect',
    clientId: 'gw',
    auth: { method: 'private_key_jwt', keyFile, alg: 'ES256' },
  });
  t.throws(() => clientAuthentication(config, TEST_ISSUER), /tokens\.introspection\.auth\.keyFile: .*ES256/);
});

t.test('client_secret_basic: RFC 6749 §2.3.1 Basic credentials', async (t) => {
  const s = await setup(t, { method: 'client_secret_basic', clientSecret: 's3cret' }, () => ({
    method: 'client_secret_basic',
    clientId: 'fapi-gateway',
    secret: 's3cret',
  }));
  s.stub.setAnswer('opaque-1', activeAnswer(s.pki.clientA.thumbprint));
  t.notOk(isReject(await s.verifier.verify('opaque-1')));
  t.equal(s.stub.calls[0]!.authProblem, undefined);
});

t.test(
  'every endpoint failure is 503 introspection_unavailable, logged once per burst, never cached',
  async (t) => {
    const s = await setup(t, undefined, tlsExpected, { timeoutMs: 5000 });
    s.stub.setAnswer('opaque-1', activeAnswer(s.pki.clientA.thumbprint));
    const modes = [
      ['hang', 'timeout'],
      ['drip', 'timeout'],
      ['reset', 'connection_error'],
      ['status_500', 'http_error'],
      ['not_json', 'invalid_response'],
      ['no_boolean_active', 'invalid_response'],
      ['huge', 'invalid_response'],
    ] as const;
    for (const [mode, outcome] of modes) {
      s.stub.setMode(mode);
      const started = performance.now();
      const v = await s.verifier.verify('opaque-1');
      const ms = performance.now() - started;
      t.ok(isReject(v) && v.reason === 'introspection_unavailable' && v.status === 503, `${mode}: 503`);
      t.equal(s.outcomes.at(-1), outcome, `${mode}: counted as ${outcome}`);
      if (outcome === 'timeout') t.ok(ms < 5000 + 5000, `${mode}: the deadline held (${Math.round(ms)} ms)`);
    }
    // Twice more: same kinds, no new log lines.
    s.stub.setMode('status_500');
    await s.verifier.verify('opaque-1');
    await s.verifier.verify('opaque-1');
    const failures = s.logs.filter((l) => l.event === 'introspection_failed');
    t.same(
      failures.map((l) => l.failure),
      ['timeout', 'connection_error', 'http_error', 'invalid_response'],
      'one line per failure kind in the burst',
    );
    t.notOk(JSON.stringify(s.logs).includes('opaque-1'), 'the token is never logged');
    s.stub.setMode('normal');
    t.notOk(
      isReject(await s.verifier.verify('opaque-1')),
      'the next call after recovery succeeds (nothing cached)',
    );
  },
);

t.test('connection refused is a connection_error', async (t) => {
  const s = await setup(t, undefined, tlsExpected);
  await s.stub.close();
  const v = await s.verifier.verify('opaque-1');
  t.ok(isReject(v) && v.reason === 'introspection_unavailable');
  t.same(s.outcomes, ['connection_error']);
});

t.test('single flight: concurrent first uses of one token share one call', async (t) => {
  const s = await setup(t, undefined, tlsExpected);
  s.stub.setAnswer('opaque-1', activeAnswer(s.pki.clientA.thumbprint));
  s.stub.hold();
  const all = Array.from({ length: 20 }, () => Promise.resolve(s.verifier.verify('opaque-1')));
  while (s.stub.calls.length === 0) await new Promise((r) => setTimeout(r, 10));
  s.stub.release();
  const results = await Promise.all(all);
  t.ok(results.every((r) => !isReject(r)));
  t.equal(s.stub.calls.length, 1, 'one call for 20 uses');
  t.equal(s.cache.filter((c) => c === 'miss').length, 20);
});

t.test('cache: until min(exp, now + cacheMaxSeconds); refusals for negativeCacheSeconds', async (t) => {
  const s = await setup(t, undefined, tlsExpected, { cacheMaxSeconds: 60, negativeCacheSeconds: 10 });
  const nowS = Math.floor(s.clock.ms / 1000);
  s.stub.setAnswer('long', activeAnswer(s.pki.clientA.thumbprint, { exp: nowS + 3600 }));
  s.stub.setAnswer('short', activeAnswer(s.pki.clientA.thumbprint, { exp: nowS + 20 }));
  t.notOk(isReject(await s.verifier.verify('long')));
  t.notOk(isReject(await s.verifier.verify('short')));
  s.clock.ms += 15_000;
  const cachedLong = s.verifier.verify('long');
  t.ok(!(cachedLong instanceof Promise) && !isReject(cachedLong), 'cached: answered synchronously');
  t.equal(s.stub.calls.length, 2);
  s.clock.ms += 10_000; // 25 s: past short's exp
  const short = await s.verifier.verify('short');
  t.ok(isReject(short) && short.reason === 'token_expired', 'short re-introspected: expired');
  t.equal(s.stub.calls.length, 3);
  // Revocation: the server now says inactive; visible once cacheMaxSeconds have passed.
  s.stub.setAnswer('long', { active: false });
  s.clock.ms += 30_000; // 55 s
  t.notOk(isReject(await s.verifier.verify('long')), 'still cached at 55 s');
  s.clock.ms += 6_000; // 61 s
  const revoked = await s.verifier.verify('long');
  t.ok(isReject(revoked) && revoked.reason === 'token_inactive', 'revocation visible after cacheMaxSeconds');
  const calls = s.stub.calls.length;
  const again = s.verifier.verify('long');
  t.ok(!(again instanceof Promise) && isReject(again) && again.reason === 'token_inactive', 'negative cache');
  t.equal(s.stub.calls.length, calls);
  s.clock.ms += 11_000;
  await s.verifier.verify('long');
  t.equal(s.stub.calls.length, calls + 1, 'asked again after negativeCacheSeconds');
  t.ok(s.cache.includes('hit') && s.cache.includes('negative_hit'));
});

t.test(
  'the connection memo answers the same token without hashing, and honours the cache deadline',
  async (t) => {
    const s = await setup(t, undefined, tlsExpected, { cacheMaxSeconds: 5 });
    s.stub.setAnswer('opaque-1', activeAnswer(s.pki.clientA.thumbprint));
    const memo = {};
    t.notOk(isReject(await s.verifier.verify('opaque-1', memo)));
    const hit = s.verifier.verify('opaque-1', memo);
    t.ok(!(hit instanceof Promise) && !isReject(hit));
    s.stub.setAnswer('opaque-1', { active: false });
    s.clock.ms += 6000;
    const after = await s.verifier.verify('opaque-1', memo);
    t.ok(isReject(after) && after.reason === 'token_inactive', 'the memo expired with the cache entry');
  },
);
