import t from 'tap';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';

t.test('certificate binding (RFC 8705 §3) is enforced per connection', async (t) => {
  const f = await startGatewayFixture(t);
  const tokenOfA = await f.token();

  await t.test("client B presenting client A's token: 401 (possible token theft)", async (t) => {
    const res = await f.request({ client: f.pki.clientB, token: tokenOfA });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
    const line = f.logs.find((l) => l.reason === 'binding_mismatch')!;
    t.equal(line.thumbprint, f.pki.clientB.thumbprint, 'the log names the presenting certificate');
    t.equal(
      await f.metric('fapi_gateway_rejections_total', { reason: 'binding_mismatch', client_id: 'client-a' }),
      1,
      'a verified token labels the rejection with its client_id',
    );
  });
  await t.test('a token without cnf: 401', async (t) => {
    const res = await f.request({ token: await f.token({ bindTo: null }) });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_missing' });
  });
  await t.test('a cnf without x5t#S256: 401', async (t) => {
    const res = await f.request({ token: await f.token({ bindTo: null, claims: { cnf: { jkt: 'abc' } } }) });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_missing' });
  });
  await t.test("a forged Client-Cert header carrying A's certificate does not help B", async (t) => {
    const res = await f.request({
      client: f.pki.clientB,
      token: tokenOfA,
      headers: {
        'client-cert': `:${f.pki.clientA.der.toString('base64')}:`,
        'x-forwarded-client-cert': `Hash=${f.pki.clientA.thumbprint}`,
        'x-ssl-client-cert': f.pki.clientA.certPem.replace(/\n/g, ' '),
      },
    });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
  });
  await t.test('a cached verified token is still bound: B cannot reuse it after A used it', async (t) => {
    const first = await f.request({ token: tokenOfA });
    t.equal(first.status, 200);
    f.upstream.reset();
    const res = await f.request({ client: f.pki.clientB, token: tokenOfA });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
  });
  await t.test('forged certificate and identity headers never reach the upstream', async (t) => {
    const res = await f.request({
      token: tokenOfA,
      headers: {
        'client-cert': ':Zm9yZ2Vk:',
        'client-cert-chain': ':Zm9yZ2Vk:',
        'x-forwarded-client-cert': 'By=spiffe://evil;Hash=00',
        'x-ssl-client-s-dn': 'CN=admin',
        'x-authenticated-client-id': 'admin-client',
        'x-authenticated-subject': 'root',
        'x-authenticated-scope': 'admin',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
        forwarded: 'for=10.0.0.1',
        connection: 'keep-alive, x-drop-me',
        'x-drop-me': 'hop-by-hop',
      },
    });
    t.equal(res.status, 200);
    const seen = f.upstream.last()!;
    t.equal(seen.headers['client-cert'], `:${f.pki.clientA.der.toString('base64')}:`);
    t.equal(seen.headers['client-cert-chain'], undefined);
    t.equal(seen.headers['x-forwarded-client-cert'], undefined);
    t.equal(seen.headers['x-ssl-client-s-dn'], undefined);
    t.equal(seen.headers['x-authenticated-client-id'], 'client-a');
    t.equal(seen.headers['x-authenticated-subject'], 'user-1');
    t.equal(seen.headers['x-authenticated-scope'], 'accounts payments');
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    t.equal(seen.headers['x-forwarded-proto'], 'https');
    t.not(seen.headers['x-forwarded-host'], 'evil.example');
    t.equal(seen.headers.forwarded, undefined);
    t.equal(seen.headers['x-drop-me'], undefined);
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    t.equal(names.filter((n) => n === 'client-cert').length, 1, 'exactly one Client-Cert');
    t.equal(names.filter((n) => n === 'x-authenticated-client-id').length, 1, 'exactly one client id header');
    f.upstream.reset();
  });
});
