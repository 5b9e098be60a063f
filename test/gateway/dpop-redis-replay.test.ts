/**
 * Two gateways sharing one Redis replay store (`dpop.replayStore.type: redis`, a real redis-server): a
 * DPoP proof accepted by one is refused by the other (RFC 9449 §11.1); while Redis is away DPoP routes
 * fail closed with 503 and forward nothing, mTLS routes keep working; service resumes by itself.
 */
import pino from 'pino';
import t from 'tap';
import { startGateway } from '../../src/gateway/server.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import { createDpopKey, mintDpopProof } from '../helpers/dpop.js';
import { dpopCall } from '../helpers/dpop-gateway.js';
import { metricValue } from '../helpers/metrics-text.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const ORIGIN = 'https://api.bank.test';
const ROUTES = [
  { path: '/accounts', methods: ['GET'], scopes: ['accounts'] },
  { path: '/payments', methods: ['GET'], scopes: ['payments'], binding: 'dpop' },
];

t.test('a proof accepted by one gateway is refused by the other; Redis down fails closed', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  const one = await startGatewayFixture(t, {
    routes: ROUTES,
    // One public origin for both replicas, as behind a load balancer: the proof's htu fits either.
    dpop: { replayStore: { type: 'redis', url: redis.url, commandTimeoutMs: 500 }, publicOrigins: [ORIGIN] },
  });
  const second = await startGateway(one.config, { logger: pino({ level: 'silent' }), defaultMetrics: false });
  t.teardown(() => second.close());
  await second.whenReady();
  const two: GatewayFixture = {
    ...one,
    gateway: second,
    metricsText: () => second.metrics.registry.metrics(),
    metric: async (name, labels) => metricValue(await second.metrics.registry.metrics(), name, labels) ?? 0,
  };
  const connected = (f: GatewayFixture) => async () => (await f.metric('fapi_gateway_redis_connected')) === 1;
  await until('gateway 1 connected to Redis', connected(one));
  await until('gateway 2 connected to Redis', connected(two));

  const key = await createDpopKey('ES256');
  const token = await one.token({ bindTo: null, claims: { cnf: { jkt: key.jkt } } });
  const proof = () => mintDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/payments`, accessToken: token });

  const used = await proof();
  const accepted = await dpopCall(one, { key, token, proof: used });
  t.equal(accepted.status, 200, accepted.body);
  t.equal(one.upstream.hits, 1);
  one.upstream.reset();
  t.ok(
    (await redis.admin().keys('fapi-gateway:dpop-jti:*')).length === 1,
    'the jti is in Redis under the key prefix',
  );
  await expectRejection(t, two, await dpopCall(two, { key, token, proof: used }), {
    status: 401,
    error: 'invalid_dpop_proof',
    reason: 'dpop_proof_replay',
    challenge: 'dpop',
  });
  t.equal((await dpopCall(two, { key, token, proof: await proof() })).status, 200, 'a fresh proof passes');
  one.upstream.reset();

  await redis.stop();
  await expectRejection(t, one, await dpopCall(one, { key, token, proof: await proof() }), {
    status: 503,
    error: 'temporarily_unavailable',
    reason: 'dpop_replay_store_unavailable',
  });
  const mtls = await one.request({ token: await one.token() });
  t.equal(mtls.status, 200, 'an mTLS-only route keeps working');
  t.equal(one.upstream.hits, 1);
  one.upstream.reset();
  t.equal(await one.metric('fapi_gateway_redis_connected'), 0);
  t.ok((await one.metric('fapi_gateway_redis_outages_total')) >= 1);

  await redis.start();
  await until('gateway 1 connected again', connected(one));
  const again = await dpopCall(one, { key, token, proof: await proof() });
  t.equal(again.status, 200, 'DPoP routes serve again without a restart');
});
