import t from 'tap';
import { startGatewayFixture } from '../helpers/gateway.js';

t.test('a bound token from client A is forwarded with the asserted upstream headers', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const res = await f.request({
    path: '/accounts/42?x=1&y=%20z',
    token,
    headers: { 'x-custom': 'kept', 'x-fapi-interaction-id': 'C0FFEE00-aaaa-4bbb-8ccc-0123456789AB' },
  });
  t.equal(res.status, 200, res.body);
  t.equal(res.headers['x-echo'], 'yes');
  t.equal(res.headers['x-fapi-interaction-id'], 'C0FFEE00-aaaa-4bbb-8ccc-0123456789AB');
  t.ok(res.headers.date);
  t.equal(f.upstream.hits, 1);
  const seen = f.upstream.last()!;
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/accounts/42?x=1&y=%20z');
  t.equal(seen.headers['x-custom'], 'kept');
  t.equal(seen.headers['client-cert'], `:${f.pki.clientA.der.toString('base64')}:`);
  t.equal(seen.headers['x-authenticated-client-id'], 'client-a');
  t.equal(seen.headers['x-authenticated-subject'], 'user-1');
  t.equal(seen.headers['x-authenticated-scope'], 'accounts payments');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.match(seen.headers['x-forwarded-host'], /^127\.0\.0\.1:\d+$/);
  t.equal(seen.headers['x-fapi-interaction-id'], 'C0FFEE00-aaaa-4bbb-8ccc-0123456789AB');
  t.equal(seen.headers.authorization, `Bearer ${token}`);
  t.equal(await f.metric('fapi_gateway_requests_total', { route: '/accounts', outcome: 'forwarded' }), 1);
});
