import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import { fetchText } from '../helpers/metrics-text.js';
import { createSigningKey, mintAccessToken } from '../helpers/tokens.js';

t.test(
  'key rotation: an unknown kid triggers one shared refetch, then at most one per cooldown',
  async (t) => {
    const f = await startGatewayFixture(t, { tokens: { jwksCooldownSeconds: 1 } });
    const thumbprint = f.pki.clientA.thumbprint;
    t.equal(f.jwks.fetches, 1, 'one fetch at start');
    const rotated = await createSigningKey('ES256');
    f.jwks.setKeys([f.key.publicJwk, rotated.publicJwk]);
    await sleep(1100); // let the start-up fetch leave the cooldown window
    const tokens = await Promise.all(
      Array.from({ length: 5 }, () => mintAccessToken(rotated, { thumbprint })),
    );
    const answers = await Promise.all(tokens.map((token) => f.request({ token })));
    t.same(
      answers.map((a) => a.status),
      [200, 200, 200, 200, 200],
    );
    t.equal(f.jwks.fetches, 2, 'five concurrent misses shared one refetch');
    f.upstream.reset();

    const unknown = await createSigningKey('ES256', 'never-published');
    const res = await f.request({ token: await mintAccessToken(unknown, { thumbprint }) });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'token_key_unknown' });
    t.equal(f.jwks.fetches, 2, 'no refetch within the cooldown');
    t.equal(await f.metric('fapi_gateway_jwks_fetches_total', { result: 'success' }), 2);
    t.equal(await f.metric('fapi_gateway_jwks_keys'), 2);
  },
);

t.test('a JWKS outage: cached keys keep serving and /readyz stays 200', async (t) => {
  const f = await startGatewayFixture(t, { tokens: { jwksCooldownSeconds: 0 } });
  const token = await f.token();
  f.jwks.setDown(true);
  const unknown = await createSigningKey('ES256', 'unknown');
  const miss = await f.request({
    token: await mintAccessToken(unknown, { thumbprint: f.pki.clientA.thumbprint }),
  });
  await expectRejection(t, f, miss, { status: 401, error: 'invalid_token', reason: 'token_key_unknown' });
  t.equal(await f.metric('fapi_gateway_jwks_fetches_total', { result: 'failure' }), 1, 'the refetch failed');
  const res = await f.request({ token });
  t.equal(res.status, 200, 'a token signed by a cached key is still accepted');
  t.equal((await fetchText(f.gateway.adminPort, '/readyz')).status, 200);
  t.equal(await f.metric('fapi_gateway_ready'), 1);
});

t.test('no keys ever loaded: /readyz is 503 and requests fail closed with 503', async (t) => {
  const f = await startGatewayFixture(t, {}, { waitForReady: false });
  // The fixture's JWKS server is up; point a second gateway at a dead endpoint instead.
  const { startGateway } = await import('../../src/gateway/server.js');
  const { gatewayConfigSchema } = await import('../../src/gateway/config.js');
  const { pino } = await import('pino');
  const config = gatewayConfigSchema.parse({
    ...f.config,
    tokens: { ...f.config.tokens, jwksUri: 'https://localhost:1/jwks' },
  });
  const down = await startGateway(config, { logger: pino({ level: 'silent' }), defaultMetrics: false });
  t.teardown(() => down.close());
  t.equal((await fetchText(down.adminPort, '/readyz')).status, 503);
  t.equal((await fetchText(down.adminPort, '/healthz')).status, 200);
  const res = await f.request({ port: down.listenPort, token: await f.token() });
  t.equal(res.status, 503);
  t.equal(res.json().error, 'temporarily_unavailable');
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.headers['retry-after'], '5');
  t.equal(f.upstream.hits, 0);
  const metrics = (await fetchText(down.adminPort, '/metrics')).body;
  t.match(metrics, /fapi_gateway_rejections_total\{reason="jwks_unavailable",client_id="unknown"\} 1/);
  t.match(metrics, /fapi_gateway_ready 0/);
});

t.test('a JWKS that turns empty or invalid is a failed fetch; the cached keys keep serving', async (t) => {
  const f = await startGatewayFixture(t, { tokens: { jwksCooldownSeconds: 0 } });
  const token = await f.token();
  const unknown = await createSigningKey('ES256', 'unknown');
  const unknownToken = await mintAccessToken(unknown, { thumbprint: f.pki.clientA.thumbprint });
  for (const keys of [
    [],
    [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }],
    [{ ...f.key.publicJwk, d: 'private' }],
  ]) {
    f.jwks.setKeys(keys);
    await f.request({ token: unknownToken }); // forces a refetch
  }
  t.equal(
    await f.metric('fapi_gateway_jwks_fetches_total', { result: 'failure' }),
    3,
    'empty, symmetric, private: refused',
  );
  t.equal(await f.metric('fapi_gateway_jwks_keys'), 1, 'the cached key stays');
  t.equal((await f.request({ token })).status, 200);
});
