import t from 'tap';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';

t.test('routes: first match on whole segments, 404/405, unsafe paths, scopes', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();

  await t.test('unknown path: 404, never forwarded, labelled unmatched', async (t) => {
    const res = await f.request({ path: '/accountsX', token });
    await expectRejection(t, f, res, { status: 404, error: 'not_found', reason: 'route_not_found' });
    t.equal(await f.metric('fapi_gateway_requests_total', { route: 'unmatched', outcome: 'rejected' }), 1);
  });
  await t.test('known path, other method: 405 with Allow', async (t) => {
    const res = await f.request({ path: '/payments', method: 'GET', token });
    await expectRejection(t, f, res, {
      status: 405,
      error: 'method_not_allowed',
      reason: 'method_not_allowed',
    });
    t.equal(res.headers.allow, 'POST');
  });
  await t.test('insufficient scope: 403 with scope= in the challenge', async (t) => {
    const res = await f.request({ path: '/admin/users', token });
    await expectRejection(t, f, res, {
      status: 403,
      error: 'insufficient_scope',
      reason: 'insufficient_scope',
    });
    t.match(String(res.headers['www-authenticate']), /scope="admin"/);
  });
  for (const path of [
    '/accounts/%2e%2e/admin',
    '/accounts/%2F..%2Fadmin',
    '/accounts/..%2fadmin',
    '/accounts%5c..%5cadmin',
    '/../accounts',
  ]) {
    await t.test(`unsafe path ${path}: 400`, async (t) => {
      const res = await f.request({ path, token });
      await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'invalid_path' });
    });
  }
  await t.test(
    'dot segments resolve before matching: /accounts/../admin is the admin route (403 here)',
    async (t) => {
      const res = await f.request({ path: '/accounts/../admin', token });
      await expectRejection(t, f, res, {
        status: 403,
        error: 'insufficient_scope',
        reason: 'insufficient_scope',
      });
    },
  );
  await t.test('duplicate slashes and dot segments are normalised and forwarded as matched', async (t) => {
    const res = await f.request({ path: '//accounts/./1//2?q=%2F', token });
    t.equal(res.status, 200);
    t.equal(
      f.upstream.last()!.url,
      '/accounts/1/2?q=%2F',
      'forwarded path is the matched path; query unchanged',
    );
    f.upstream.reset();
  });
  await t.test('encoded unreserved characters match their decoded form', async (t) => {
    const res = await f.request({ path: '/%61ccounts/1', token });
    t.equal(res.status, 200);
    t.equal(f.upstream.last()!.url, '/accounts/1');
    f.upstream.reset();
  });
  await t.test('POST body, method and query are forwarded unchanged', async (t) => {
    const body = JSON.stringify({ amount: '10.00', currency: 'EUR' });
    const res = await f.request({
      path: '/payments/new?idempotency=1',
      method: 'POST',
      token,
      headers: { 'content-type': 'application/json' },
      body,
    });
    t.equal(res.status, 200);
    const seen = f.upstream.last()!;
    t.equal(seen.method, 'POST');
    t.equal(seen.url, '/payments/new?idempotency=1');
    t.equal(seen.body, body);
    f.upstream.reset();
  });
});

t.test('requests the HTTP parser refuses still get a FAPI-shaped answer and are counted', async (t) => {
  const f = await startGatewayFixture(t);
  const tls = await import('node:tls');
  const raw = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: f.gateway.listenPort,
        servername: 'localhost',
        ca: f.pki.ca.certPem,
        cert: f.pki.clientA.certPem,
        key: f.pki.clientA.keyPem,
      });
      let answer = '';
      socket.on('secureConnect', () => socket.write(request));
      socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  const answer = await raw('GET /accounts HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n');
  t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  t.match(answer, /\r\nx-fapi-interaction-id: [0-9a-f-]{36}\r\n/);
  t.match(answer, /\r\nCache-Control: no-store\r\n/);
  t.match(answer, /\r\nDate: /);
  t.match(answer, /"error":"invalid_request"/);
  const huge = await raw(`GET /accounts HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(huge, /^HTTP\/1\.1 431 /);
  t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'malformed_request' }), 1);
  t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'headers_too_large' }), 1);
  t.equal(f.upstream.hits, 0);
});
