import t from 'tap';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';

t.test('tokens are accepted only in one Authorization: Bearer header', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();

  await t.test('no credentials: 401 with a challenge and no error code', async (t) => {
    const res = await f.request();
    await expectRejection(t, f, res, { status: 401, error: null, reason: 'token_missing' });
  });
  await t.test('another scheme: 401 with no error code', async (t) => {
    const res = await f.request({ headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    await expectRejection(t, f, res, { status: 401, error: null, reason: 'token_missing' });
  });
  await t.test('token in the query string: 400, never forwarded', async (t) => {
    const res = await f.request({ path: `/accounts?access_token=${token}` });
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'token_in_query' });
    t.notOk(res.body.includes(token), 'the description does not echo the token');
  });
  await t.test('token in the query string next to a header token: still 400', async (t) => {
    const res = await f.request({ path: `/accounts?a=1&access_token=${token}`, token });
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'token_in_query' });
  });
  await t.test('token in a form body: 400, never forwarded', async (t) => {
    const res = await f.request({
      method: 'POST',
      token,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `amount=1&access_token=${token}`,
    });
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'token_in_body' });
  });
  await t.test('two Authorization headers: 400', async (t) => {
    const res = await f.request({ headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } });
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'multiple_tokens' });
  });
  await t.test('two tokens in one header: 400', async (t) => {
    const res = await f.request({ headers: { authorization: `Bearer ${token}, Bearer ${token}` } });
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'multiple_tokens' });
  });
  await t.test('Bearer without a token: 401 invalid_token', async (t) => {
    const res = await f.request({ headers: { authorization: 'Bearer' } });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'token_malformed' });
  });
  await t.test('a token that is not a b64token: 401 invalid_token', async (t) => {
    const res = await f.request({ headers: { authorization: 'Bearer a"b' } });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'token_malformed' });
  });
  await t.test('the scheme is case-insensitive', async (t) => {
    for (const scheme of ['bearer', 'bEARER', 'BEARER']) {
      const res = await f.request({ headers: { authorization: `${scheme} ${token}` } });
      t.equal(res.status, 200, scheme);
    }
    t.equal(f.upstream.hits, 3);
    f.upstream.reset();
  });
  await t.test('a form body without a token is forwarded byte for byte', async (t) => {
    const res = await f.request({
      method: 'POST',
      token,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=1&currency=EUR&note=%C3%A9',
    });
    t.equal(res.status, 200);
    t.equal(f.upstream.last()!.body, 'amount=1&currency=EUR&note=%C3%A9');
    t.equal(f.upstream.last()!.headers['content-length'], '33');
    f.upstream.reset();
  });
  await t.test('a form body over limits.formBodyBytes: 413, not forwarded', async (t) => {
    const res = await f.request({
      method: 'POST',
      token,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'x=' + 'a'.repeat(1024 * 1024 + 10),
    });
    await expectRejection(t, f, res, { status: 413, error: 'invalid_request', reason: 'body_too_large' });
  });
});
