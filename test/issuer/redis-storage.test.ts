/**
 * The issuer on `storage.type: redis` as configured (it opens its own connection to a real
 * redis-server): flows work, a Redis that stops answering turns requests into 503 without spending
 * single-use values, /readyz follows Redis, and an issuer started while Redis is away runs, is not
 * ready, and serves once Redis comes.
 */
import t from 'tap';
import { startCodeFlowIssuer, WEB_CLIENT_ID } from '../helpers/code-flow.js';
import { ASSERTION_TYPE, clientAssertion } from '../helpers/issuer.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { startRedisServer, type TestRedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

async function redisIssuer(server: TestRedisServer, commandTimeoutMs = 1000) {
  const ti = await startCodeFlowIssuer({
    config: { storage: { type: 'redis', redis: { url: server.url, commandTimeoutMs } } },
  });
  const adminPort = ti.issuer.adminPort!;
  const ready = async () => (await fetchText(adminPort, '/readyz')).status === 200;
  const token = async () =>
    ti.postForm(
      '/token',
      {
        grant_type: 'client_credentials',
        client_id: 'jwt-client',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion({
          clientId: 'jwt-client',
          audience: ti.issuer.url,
          key: ti.jwtClient.privateKey,
          kid: ti.jwtClient.publicJwk.kid,
        }),
        scope: 'accounts',
      },
      { credential: ti.pki.clientA },
    );
  return { ti, adminPort, ready, token };
}

t.test('state lives in Redis under the key prefix, and a replayed assertion is refused', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const { ti, ready, token } = await redisIssuer(server);
  t.teardown(() => ti.close());
  await until('ready', ready);
  t.equal((await token()).status, 200);
  const pushed = await ti.par(await ti.requestObject());
  t.equal(pushed.status, 201);
  const keys = await server.admin().keys('*');
  t.ok(keys.length > 0 && keys.every((k) => k.startsWith('fapi-issuer:')), keys.join(' '));
  t.ok(
    keys.some((k) => k.startsWith('fapi-issuer:{st:par:')),
    'the PAR request is in Redis',
  );
  t.ok(
    keys.some((k) => k.startsWith('fapi-issuer:{rp:')),
    'assertion jtis are in Redis',
  );
  const assertion = await clientAssertion({
    clientId: 'jwt-client',
    audience: ti.issuer.url,
    key: ti.jwtClient.privateKey,
    kid: ti.jwtClient.publicJwk.kid,
  });
  const send = () =>
    ti.postForm(
      '/token',
      {
        grant_type: 'client_credentials',
        client_id: 'jwt-client',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
        scope: 'accounts',
      },
      { credential: ti.pki.clientA },
    );
  t.equal((await send()).status, 200);
  const replay = await send();
  t.equal(replay.status, 401);
  t.equal(replay.json.error, 'invalid_client');
});

t.test('Redis stops answering: 503 JSON and page, not ready, nothing spent; then back', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  const { ti, adminPort, ready, token } = await redisIssuer(server, 300);
  t.teardown(() => ti.close());
  await until('ready', ready);
  const pushed = await ti.par(await ti.requestObject());
  t.equal(pushed.status, 201);
  const authorize = `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(String(pushed.json.request_uri))}`;

  server.pause();
  const refused = await token();
  t.equal(refused.status, 503);
  t.equal(refused.json.error, 'temporarily_unavailable');
  t.equal(refused.headers['retry-after'], '2');
  const page = await ti.get(authorize);
  t.equal(page.status, 503, 'a browser page answers 503');
  t.match(page.headers['content-type'], /text\/html/);
  await until('not ready', async () => !(await ready()));
  const metrics = (await fetchText(adminPort, '/metrics')).body;
  t.equal(metricValue(metrics, 'fapi_issuer_redis_connected'), 0);
  t.ok((metricValue(metrics, 'fapi_issuer_redis_outages_total') ?? 0) >= 1);

  server.resume();
  await until('ready again', ready);
  t.equal((await token()).status, 200, 'serves again without a restart');
  const resumed = await ti.get(authorize);
  t.equal(resumed.status, 200, 'the request_uri refused during the outage was not spent');
  t.match(resumed.text, /<form/);
});

t.test('started while Redis is away: running, not ready, then ready when Redis comes', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.close());
  await server.stop();
  const { ti, ready, token } = await redisIssuer(server);
  t.teardown(() => ti.close());
  t.equal(await ready(), false);
  t.equal((await token()).status, 503);
  await server.start();
  await until('ready', ready);
  t.equal((await token()).status, 200);
});
