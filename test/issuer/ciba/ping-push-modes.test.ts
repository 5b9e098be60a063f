/**
 * CIBA ping and push modes end to end, with the user deciding on the device page in chromium: the ping
 * carries the client_notification_token and only the auth_req_id; the push carries the token response
 * with an ID token whose at_hash, rt_hash and auth_req_id are checked; a denial is pushed as an error; a
 * notification endpoint that is down is retried until expiry, then abandoned and counted.
 */
import t from 'tap';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { leftHalfHash } from '../../../src/issuer/tokens/id-token.js';
import {
  ALICE,
  decideOnDevice,
  notificationToken,
  startCibaIssuer,
  type CibaIssuer,
} from '../../helpers/ciba.js';
import { launchPhoneBrowser } from '../../helpers/browser.js';
import { outcome } from '../../helpers/issuer.js';
import { fetchText, metricValue } from '../../helpers/metrics-text.js';
import { testClock } from '../../helpers/clock.js';

let ci: CibaIssuer;
let browser: Awaited<ReturnType<typeof launchPhoneBrowser>>;
t.before(async () => {
  ci = await startCibaIssuer();
  browser = await launchPhoneBrowser();
});
t.teardown(async () => {
  await browser?.close();
  await ci?.close();
});

t.test(
  'ping: the decision is announced with the bearer token, then the client fetches bound tokens',
  async (t) => {
    const bearer = notificationToken();
    const r = await ci.backchannel('ciba-ping', {
      request: await ci.requestObject(
        {
          scope: 'openid accounts',
          login_hint: ALICE.username,
          binding_message: 'PING-1',
          client_notification_token: bearer,
        },
        { clientId: 'ciba-ping' },
      ),
    });
    t.equal(r.status, 200, outcome(r));
    const authReqId = r.json.auth_req_id as string;
    t.equal(r.json.interval, 1, 'ping clients may poll too (CIBA §7.3)');
    t.equal(ci.ping.received.length, 0, 'nothing is announced before the user decides');

    t.match(
      await decideOnDevice(browser.context, ci.issuer.url, { bindingMessage: 'PING-1', decision: 'Approve' }),
      /Approved/,
    );
    const [ping] = await ci.ping.waitFor(1);
    t.equal(ping!.authorization, `Bearer ${bearer}`);
    t.same(ping!.body, { auth_req_id: authReqId });

    const withoutCertificate = await ci.poll('ciba-ping', authReqId, null);
    t.equal(withoutCertificate.status, 400);
    t.equal(withoutCertificate.json.error, 'invalid_request', 'FAPI-CIBA tokens must be certificate-bound');
    const tokens = await ci.poll('ciba-ping', authReqId, ci.pki.clientA);
    t.equal(tokens.status, 200, outcome(tokens));
    const jwks = createLocalJWKSet((await ci.get('/jwks')).json as { keys: [] });
    const { payload } = await jwtVerify(tokens.json.access_token!, jwks);
    t.same(payload.cnf, { 'x5t#S256': ci.pki.clientA.thumbprint });
    t.equal((await ci.poll('ciba-ping', authReqId, ci.pki.clientA)).json.error, 'invalid_grant');
  },
);

t.test('ping: a denial is announced too, and the poll says access_denied', async (t) => {
  const before = ci.ping.received.length;
  const r = await ci.backchannel('ciba-ping', {
    request: await ci.requestObject(
      {
        scope: 'openid',
        login_hint: ALICE.username,
        binding_message: 'PING-2',
        client_notification_token: notificationToken(),
      },
      { clientId: 'ciba-ping' },
    ),
  });
  await decideOnDevice(browser.context, ci.issuer.url, { bindingMessage: 'PING-2', decision: 'Deny' });
  await ci.ping.waitFor(before + 1);
  const denied = await ci.poll('ciba-ping', r.json.auth_req_id as string, ci.pki.clientA);
  t.equal(denied.json.error, 'access_denied');
});

t.test('push: the token response arrives at the notification endpoint with verifiable hashes', async (t) => {
  const bearer = notificationToken();
  const r = await ci.backchannel('ciba-push', {
    scope: 'openid accounts',
    login_hint: ALICE.username,
    binding_message: 'PUSH-1',
    client_notification_token: bearer,
  });
  t.equal(r.status, 200, outcome(r));
  const authReqId = r.json.auth_req_id as string;
  t.notOk('interval' in r.json, 'push clients never poll');
  const poll = await ci.poll('ciba-push', authReqId);
  t.equal(poll.status, 400);
  t.equal(poll.json.error, 'unauthorized_client', 'push clients cannot use the token endpoint');

  await decideOnDevice(browser.context, ci.issuer.url, { bindingMessage: 'PUSH-1', decision: 'Approve' });
  const [push] = await ci.push.waitFor(1);
  t.equal(push!.authorization, `Bearer ${bearer}`);
  const body = push!.body as Record<string, string>;
  t.equal(body.auth_req_id, authReqId);
  t.equal(body.token_type, 'Bearer');
  t.equal(body.scope, 'openid accounts');
  t.type(body.refresh_token, 'string');
  const jwks = createLocalJWKSet((await ci.get('/jwks')).json as { keys: [] });
  const { payload: at } = await jwtVerify(body.access_token!, jwks, { typ: 'at+jwt' });
  t.same(at.cnf, { 'x5t#S256': ci.pki.clientB.thumbprint }, 'bound to the backchannel request certificate');
  const { payload: id } = await jwtVerify(body.id_token!, jwks, {
    issuer: ci.issuer.url,
    audience: 'ciba-push',
  });
  t.equal(id.at_hash, leftHalfHash(body.access_token!, 'PS256'));
  t.equal(id['urn:openid:params:jwt:claim:rt_hash'], leftHalfHash(body.refresh_token!, 'PS256'));
  t.equal(id['urn:openid:params:jwt:claim:auth_req_id'], authReqId);
  t.equal(id.sub, 'alice');
  t.equal((await ci.poll('ciba-push', authReqId)).json.error, 'unauthorized_client');
});

t.test('push: a denial is pushed as a CIBA §12 error payload', async (t) => {
  const r = await ci.backchannel('ciba-push', {
    scope: 'openid',
    login_hint: ALICE.username,
    binding_message: 'PUSH-2',
    client_notification_token: notificationToken(),
  });
  const before = ci.push.received.length;
  await decideOnDevice(browser.context, ci.issuer.url, { bindingMessage: 'PUSH-2', decision: 'Deny' });
  const received = await ci.push.waitFor(before + 1);
  t.match(received[before]!.body, { auth_req_id: r.json.auth_req_id, error: 'access_denied' });
  t.notOk('access_token' in received[before]!.body);
});

t.test('push: an endpoint that is down is retried until expiry, then abandoned and counted', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  // The issuer's clock moves past the expiry once retries are seen, so the browser step has all the time
  // it needs and the expiry does not race it.
  const clock = testClock();
  const down = await startCibaIssuer({
    pushUrl: `https://localhost:${port}/down`,
    options: { clock: clock.now },
  });
  t.teardown(() => down.close());
  const r = await down.backchannel('ciba-push', {
    scope: 'openid',
    login_hint: ALICE.username,
    binding_message: 'PUSH-DOWN',
    client_notification_token: notificationToken(),
    requested_expiry: '30',
  });
  t.equal(r.status, 200, outcome(r));
  await decideOnDevice(browser.context, down.issuer.url, {
    bindingMessage: 'PUSH-DOWN',
    decision: 'Approve',
  });
  const metric = async (result: string) =>
    metricValue(
      (await fetchText(down.issuer.adminPort!, '/metrics')).body,
      'fapi_issuer_ciba_notifications_total',
      {
        mode: 'push',
        result,
      },
    ) ?? 0;
  const until = async (condition: () => Promise<boolean>) => {
    const deadline = Date.now() + 60_000;
    while (!(await condition()) && Date.now() < deadline) await new Promise((x) => setTimeout(x, 100));
  };
  await until(async () => (await metric('failed')) >= 2);
  t.equal(await metric('abandoned'), 0, 'retried while the request is alive');
  clock.advance(31_000);
  await until(async () => (await metric('abandoned')) >= 1);
  t.equal(await metric('abandoned'), 1, 'the delivery was given up at expiry and counted');
  t.ok((await metric('failed')) >= 2, 'failed attempts were retried and counted');
  t.equal(await metric('delivered'), 0);
});
