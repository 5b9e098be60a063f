/**
 * CIBA poll mode end to end: a FAPI-CIBA client (tls_client_auth) starts a signed backchannel request,
 * polls (authorization_pending, slow_down), the user approves on the device page in chromium, the client
 * gets certificate-bound tokens once, and the gateway accepts the access token with the client's
 * certificate only. Also deny, expiry and the device page's own refusals.
 */
import t from 'tap';
import { fetchText, metricValue } from '../../helpers/metrics-text.js';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Page } from 'playwright-core';
import { leftHalfHash } from '../../../src/issuer/tokens/id-token.js';
import { ALICE, BOB, startCibaIssuer, type CibaIssuer } from '../../helpers/ciba.js';
import { launchPhoneBrowser } from '../../helpers/browser.js';
import { startGatewayFixture } from '../../helpers/gateway.js';
import { outcome } from '../../helpers/issuer.js';
import { testClock } from '../../helpers/clock.js';

let ci: CibaIssuer;
let browser: Awaited<ReturnType<typeof launchPhoneBrowser>>;
/** The issuer's clock: intervals and expiries pass by moving it, not by sleeping. */
const clock = testClock();
t.before(async () => {
  // A 2 s interval: the two quick polls below are always within it, even on a loaded machine.
  ci = await startCibaIssuer({ ciba: { intervalSeconds: 2 }, options: { clock: clock.now } });
  browser = await launchPhoneBrowser();
});
t.teardown(async () => {
  await browser?.close();
  await ci?.close();
});

async function start(claims: Record<string, unknown> = {}) {
  const r = await ci.backchannel('ciba-poll', {
    request: await ci.requestObject({
      scope: 'openid accounts',
      login_hint: ALICE.username,
      binding_message: 'POS-4711',
      ...claims,
    }),
  });
  if (r.status !== 200) throw new Error(`backchannel: ${outcome(r)}`);
  return r.json as { auth_req_id: string; expires_in: number; interval: number };
}

/** Opens the device page in a fresh browser page, signed in as `user`. */
async function deviceSignedIn(user = ALICE): Promise<Page> {
  await browser.context.clearCookies();
  const page = await browser.context.newPage();
  await page.goto(`${ci.issuer.url}/device`);
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/device$/);
  return page;
}

t.test(
  'approve: pending, slow_down, then certificate-bound tokens once; the gateway accepts them',
  async (t) => {
    const started = await start();
    t.equal(started.expires_in, 60);
    t.equal(started.interval, 2);
    t.ok(Buffer.from(started.auth_req_id, 'base64url').length >= 16, 'auth_req_id >= 128 bits');

    const pending = await ci.poll('ciba-poll', started.auth_req_id);
    t.equal(pending.status, 400);
    t.equal(pending.json.error, 'authorization_pending');
    t.equal(pending.headers['cache-control'], 'no-store');
    const fast = await ci.poll('ciba-poll', started.auth_req_id);
    t.equal(fast.json.error, 'slow_down', 'polling faster than the interval');

    const page = await deviceSignedIn();
    const section = page.getByRole('region', { name: 'Acme Call Centre' });
    await section.waitFor();
    t.equal(await section.getByLabel('Binding message').textContent(), 'POS-4711');
    t.match(
      await section.getByRole('list', { name: 'Requested permissions' }).textContent(),
      /openid[\s\S]*accounts/,
    );
    await section.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/result=approved/);
    t.match(await page.getByRole('status').textContent(), /Approved/);
    t.equal(await page.getByRole('region').count(), 0, 'nothing left to approve');
    await page.close();

    clock.advance(7_100); // the slow_down made the interval 2 + 5 s
    const tokens = await ci.poll('ciba-poll', started.auth_req_id);
    t.equal(tokens.status, 200, outcome(tokens));
    t.equal(tokens.json.token_type, 'Bearer');
    t.equal(tokens.json.scope, 'openid accounts');
    t.type(tokens.json.refresh_token, 'string');
    const jwks = createLocalJWKSet((await ci.get('/jwks')).json as { keys: [] });
    const { payload: at } = await jwtVerify(tokens.json.access_token!, jwks, { typ: 'at+jwt' });
    t.same(at.cnf, { 'x5t#S256': ci.pki.clientA.thumbprint }, 'bound to the polling client certificate');
    t.equal(at.sub, 'alice');
    t.equal(at.client_id, 'ciba-poll');
    const { payload: id } = await jwtVerify(tokens.json.id_token as string, jwks, {
      issuer: ci.issuer.url,
      audience: 'ciba-poll',
    });
    t.equal(id['urn:openid:params:jwt:claim:auth_req_id'], started.auth_req_id);
    t.equal(id.at_hash, leftHalfHash(tokens.json.access_token!, 'PS256'));
    t.equal(
      id['urn:openid:params:jwt:claim:rt_hash'],
      leftHalfHash(tokens.json.refresh_token as string, 'PS256'),
    );
    t.type(id.auth_time, 'number');

    const refresh = (token: string) =>
      ci.postForm(
        '/token',
        { grant_type: 'refresh_token', refresh_token: token, client_id: 'ciba-poll' },
        { credential: ci.pki.clientA },
      );
    const refreshed = await refresh(tokens.json.refresh_token as string);
    t.equal(refreshed.status, 200, `the CIBA refresh token works: ${outcome(refreshed)}`);
    t.not(refreshed.json.refresh_token, tokens.json.refresh_token, 'and is rotated');
    t.equal(
      (await refresh(tokens.json.refresh_token as string)).json.error,
      'invalid_grant',
      'the rotated one is refused',
    );

    const reuse = await ci.poll('ciba-poll', started.auth_req_id);
    t.equal(reuse.status, 400);
    t.equal(reuse.json.error, 'invalid_grant', 'auth_req_id is single use');

    // The issuer's clock was moved 7.1 s ahead above, so its tokens' iat is ahead of the gateway's clock
    // by that much: the gateway gets a skew allowance that covers it.
    const gw = await startGatewayFixture(t, {
      tokens: {
        issuer: ci.issuer.url,
        audience: 'https://api.example',
        jwksUri: `${ci.issuer.url}/jwks`,
        clockSkewSeconds: 30,
      },
    });
    const accepted = await gw.request({ token: tokens.json.access_token!, client: ci.pki.clientA });
    t.equal(accepted.status, 200, 'the gateway accepts the token with the client certificate');
    t.equal(gw.upstream.requests.length, 1);
    const stolen = await gw.request({ token: tokens.json.access_token!, client: ci.pki.clientB });
    t.equal(stolen.status, 401, 'and refuses it with another certificate');
    t.match(stolen.headers['www-authenticate'], /invalid_token/);
    t.equal(gw.upstream.requests.length, 1, 'nothing forwarded');
  },
);

t.test('deny on the device page: access_denied, no tokens', async (t) => {
  const started = await start({ binding_message: 'DENY-ME' });
  const page = await deviceSignedIn();
  const section = page.getByRole('region', { name: 'Acme Call Centre' }).filter({ hasText: 'DENY-ME' });
  await section.getByRole('button', { name: 'Deny' }).click();
  await page.waitForURL(/result=denied/);
  await page.close();
  const r = await ci.poll('ciba-poll', started.auth_req_id);
  t.equal(r.status, 400);
  t.equal(r.json.error, 'access_denied');
  t.notOk(r.json.access_token);
});

t.test('expiry: expired_token, and the device page no longer offers the request', async (t) => {
  const started = await start({ requested_expiry: 2, binding_message: 'SOON-GONE' });
  t.equal(started.expires_in, 2);
  clock.advance(2_100);
  const r = await ci.poll('ciba-poll', started.auth_req_id);
  t.equal(r.json.error, 'expired_token');
  const page = await deviceSignedIn();
  t.equal(await page.getByText('SOON-GONE').count(), 0);
  await page.close();
});

t.test(
  "another user sees none of alice's requests; the page is phone-sized and self-contained",
  async (t) => {
    await start({ binding_message: 'ALICE-ONLY' });
    await browser.context.clearCookies();
    const external: string[] = [];
    const page = await browser.context.newPage();
    page.on('request', (req) => {
      if (!req.url().startsWith(ci.issuer.url)) external.push(req.url());
    });
    const response = await page.goto(`${ci.issuer.url}/device`);
    const csp = response!.headers()['content-security-policy']!;
    t.match(csp, /default-src 'none'/);
    t.match(csp, /frame-ancestors 'none'/);
    t.match(csp, /script-src 'none'/);
    await page.getByLabel('Username').fill(BOB.username);
    await page.getByLabel('Password').fill(BOB.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/device$/);
    t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'No pending requests');
    t.equal(await page.getByText('ALICE-ONLY').count(), 0);
    const width = await page.evaluate('document.documentElement.scrollWidth');
    t.ok(Number(width) <= 390, `no horizontal scrolling on a phone (${String(width)}px)`);
    t.same(external, [], 'no external assets');
    await page.close();
  },
);

t.test('wrong password: generic error, still signed out', async (t) => {
  await browser.context.clearCookies();
  const page = await browser.context.newPage();
  await page.goto(`${ci.issuer.url}/device`);
  await page.getByLabel('Username').fill(ALICE.username);
  await page.getByLabel('Password').fill('wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  t.match(await page.getByRole('alert').textContent(), /username or password is not correct/);
  t.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
  await page.close();
});

t.test('device page form posts: no session, wrong CSRF token or foreign origin are refused', async (t) => {
  const started = await start({ binding_message: 'CSRF-TEST' });
  const page = await deviceSignedIn();
  const cookies = await browser.context.cookies(ci.issuer.url);
  const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
  const handle = await page.locator('input[name=request]').first().getAttribute('value');
  await page.close();
  const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    ci.postForm('/device/decision', form, { listener: 'main', headers });
  const noSession = await post({ csrf_token: 'x', request: handle!, decision: 'approve' });
  t.equal(noSession.status, 400);
  const badCsrf = await post({ csrf_token: 'forged', request: handle!, decision: 'approve' }, { cookie });
  t.equal(badCsrf.status, 403);
  const foreign = await post(
    { csrf_token: 'x', request: handle!, decision: 'approve' },
    { cookie, origin: 'https://evil.example' },
  );
  t.equal(foreign.status, 403);
  const metrics = (await fetchText(ci.issuer.adminPort!, '/metrics')).body;
  for (const reason of ['form_session_missing', 'form_csrf_invalid', 'form_cross_origin'])
    t.equal(
      metricValue(metrics, 'fapi_issuer_failures_total', { endpoint: 'ciba_device', reason }),
      1,
      `${reason} is counted`,
    );
  const r = await ci.poll('ciba-poll', started.auth_req_id);
  t.equal(r.json.error, 'authorization_pending', 'nothing was approved');
  t.notMatch(JSON.stringify(await page.context().cookies()), started.auth_req_id);
});
