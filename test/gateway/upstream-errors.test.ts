import t from 'tap';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startGatewayFixture } from '../helpers/gateway.js';
import { UUID_PATTERN } from '../helpers/gateway-assertions.js';

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

t.test('upstream refused: 502 with a JSON error and the interaction id; the gateway stays up', async (t) => {
  const port = await closedPort();
  const f = await startGatewayFixture(t, { upstream: { url: `http://127.0.0.1:${port}` } });
  const token = await f.token();
  const id = '6f1c8a4e-3b2d-4c5e-9f60-718293a4b5c6';
  const res = await f.request({ token, headers: { 'x-fapi-interaction-id': id } });
  t.equal(res.status, 502);
  t.equal(res.json().error, 'bad_gateway');
  t.equal(res.headers['x-fapi-interaction-id'], id);
  t.equal(res.headers['cache-control'], 'no-store');
  t.ok(res.headers.date);
  t.equal(await f.metric('fapi_gateway_upstream_errors_total', { kind: 'refused' }), 1);
  t.equal(
    await f.metric('fapi_gateway_requests_total', { route: '/accounts', outcome: 'upstream_error' }),
    1,
  );
  const again = await f.request({ token });
  t.equal(again.status, 502, 'still answering');
  t.match(again.headers['x-fapi-interaction-id'], UUID_PATTERN);
});

t.test('upstream too slow: 504 after upstream.timeoutMs', async (t) => {
  const f = await startGatewayFixture(t, { upstream: { timeoutMs: 200 } });
  const res = await f.request({ token: await f.token(), headers: { 'x-echo-delay-ms': '3000' } });
  t.equal(res.status, 504);
  t.equal(res.json().error, 'gateway_timeout');
  t.match(res.headers['x-fapi-interaction-id'], UUID_PATTERN);
  t.equal(await f.metric('fapi_gateway_upstream_errors_total', { kind: 'timeout' }), 1);
});

t.test('upstream status codes and bodies pass through unchanged, with the interaction id', async (t) => {
  const f = await startGatewayFixture(t);
  const res = await f.request({
    token: await f.token(),
    headers: { 'x-echo-status': '503', 'x-echo-interaction-id': 'drop' },
  });
  t.equal(res.status, 503);
  t.equal(res.json().echo, true);
  t.match(res.headers['x-fapi-interaction-id'], UUID_PATTERN);
  t.equal(await f.metric('fapi_gateway_requests_total', { route: '/accounts', outcome: 'forwarded' }), 1);
});
