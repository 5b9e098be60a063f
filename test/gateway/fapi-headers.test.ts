import t from 'tap';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection, UUID_PATTERN } from '../helpers/gateway-assertions.js';

t.test('FAPI headers: interaction id on every response, auth date and customer IP validated', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const mixedCase = 'aBcDeF01-2345-4789-AbCd-0123456789eF';

  await t.test('a mixed-case interaction id is echoed verbatim and sent upstream', async (t) => {
    const res = await f.request({ token, headers: { 'x-fapi-interaction-id': mixedCase } });
    t.equal(res.status, 200);
    t.equal(res.headers['x-fapi-interaction-id'], mixedCase);
    t.equal(f.upstream.last()!.headers['x-fapi-interaction-id'], mixedCase);
    f.upstream.reset();
  });
  await t.test('absent: a new UUID v4 is generated and sent upstream', async (t) => {
    const res = await f.request({ token });
    const id = String(res.headers['x-fapi-interaction-id']);
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    t.equal(f.upstream.last()!.headers['x-fapi-interaction-id'], id);
    f.upstream.reset();
  });
  await t.test('the upstream dropping or changing the id does not change what the client gets', async (t) => {
    const dropped = await f.request({
      token,
      headers: { 'x-fapi-interaction-id': mixedCase, 'x-echo-interaction-id': 'drop' },
    });
    t.equal(dropped.headers['x-fapi-interaction-id'], mixedCase);
    const changed = await f.request({
      token,
      headers: { 'x-fapi-interaction-id': mixedCase, 'x-echo-interaction-id': 'something-else' },
    });
    t.equal(changed.headers['x-fapi-interaction-id'], mixedCase);
    f.upstream.reset();
  });
  await t.test('malformed interaction id: 400 with a fresh id, never the invalid value', async (t) => {
    const res = await f.request({ token, headers: { 'x-fapi-interaction-id': 'not-a-uuid<script>' } });
    await expectRejection(t, f, res, {
      status: 400,
      error: 'invalid_request',
      reason: 'invalid_interaction_id',
    });
    t.match(res.headers['x-fapi-interaction-id'], UUID_PATTERN);
    t.notOk(res.body.includes('not-a-uuid'), 'the invalid value is not echoed');
  });
  await t.test('the interaction id is on 404s and on rejections', async (t) => {
    const notFound = await f.request({
      path: '/nope',
      token,
      headers: { 'x-fapi-interaction-id': mixedCase },
    });
    await expectRejection(t, f, notFound, { status: 404, error: 'not_found', reason: 'route_not_found' });
    t.equal(notFound.headers['x-fapi-interaction-id'], mixedCase);
    const unauth = await f.request({ headers: { 'x-fapi-interaction-id': mixedCase } });
    await expectRejection(t, f, unauth, { status: 401, error: null, reason: 'token_missing' });
    t.equal(unauth.headers['x-fapi-interaction-id'], mixedCase);
  });
  await t.test('x-fapi-auth-date must be an IMF-fixdate', async (t) => {
    const ok = await f.request({ token, headers: { 'x-fapi-auth-date': 'Tue, 11 Sep 2001 08:46:00 GMT' } });
    t.equal(ok.status, 200);
    f.upstream.reset();
    for (const bad of [
      '2001-09-11T08:46:00Z',
      'Mon, 11 Sep 2001 08:46:00 GMT',
      'Tue, 31 Sep 2001 08:46:00 GMT',
      '',
    ]) {
      const res = await f.request({ token, headers: { 'x-fapi-auth-date': bad } });
      await expectRejection(t, f, res, {
        status: 400,
        error: 'invalid_request',
        reason: 'invalid_auth_date',
      });
    }
  });
  await t.test('x-fapi-customer-ip-address must be an IP address', async (t) => {
    for (const good of ['198.51.100.7', '2001:db8::1']) {
      const res = await f.request({ token, headers: { 'x-fapi-customer-ip-address': good } });
      t.equal(res.status, 200, good);
    }
    f.upstream.reset();
    for (const bad of ['198.51.100', 'localhost', '1.2.3.4, 5.6.7.8']) {
      const res = await f.request({ token, headers: { 'x-fapi-customer-ip-address': bad } });
      await expectRejection(t, f, res, {
        status: 400,
        error: 'invalid_request',
        reason: 'invalid_customer_ip',
      });
    }
  });
});
