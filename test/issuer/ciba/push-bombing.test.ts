// test:memory-only: the limits' windows are driven by an injected clock; the Redis store judges expiry by the server's clock.
/**
 * Push bombing (MFA fatigue): a client cannot flood a user's authentication device. Pending requests are
 * capped per user and per client, the backchannel endpoint is rate limited per client, and each refusal
 * is counted with the limit that refused it.
 */
import t from 'tap';
import { ALICE, BOB, notificationToken, startCibaIssuer, type CibaIssuer } from '../../helpers/ciba.js';
import { testClock } from '../../helpers/clock.js';
import { fetchText, metricValue } from '../../helpers/metrics-text.js';

const clock = testClock();
let ci: CibaIssuer;
t.before(async () => {
  ci = await startCibaIssuer({
    ciba: { limits: { pendingPerUser: 3, pendingPerClient: 5, requestsPerClientPerMinute: 8 } },
    options: { clock: clock.now },
  });
});
t.teardown(() => ci?.close());

async function start(clientId: string, user: string) {
  return ci.backchannel(clientId, {
    request: await ci.requestObject(
      {
        scope: 'openid accounts',
        login_hint: user,
        binding_message: 'PUSH-1',
        ...(clientId === 'ciba-ping' && { client_notification_token: notificationToken() }),
      },
      { clientId, now: Math.floor(clock.now() / 1000) },
    ),
  });
}

const limited = async (limit: string) =>
  metricValue((await fetchText(ci.issuer.adminPort!, '/metrics')).body, 'fapi_issuer_ciba_limited_total', {
    limit,
  }) ?? 0;

t.test('pending requests per user and per client are capped; the endpoint is rate limited', async (t) => {
  for (let i = 0; i < 3; i++) t.equal((await start('ciba-poll', ALICE.username)).status, 200, `alice ${i}`);
  const fourth = await start('ciba-poll', ALICE.username);
  t.equal(fourth.status, 403, 'a 4th pending request for one user is refused');
  t.equal(fourth.json.error, 'access_denied');
  t.equal(fourth.headers['cache-control'], 'no-store');
  t.equal(await limited('user_pending'), 1);

  // Another user of the same client is not affected by alice's cap, until the client's cap.
  t.equal((await start('ciba-poll', BOB.username)).status, 200);
  t.equal((await start('ciba-poll', BOB.username)).status, 200);
  const overClient = await start('ciba-poll', BOB.username);
  t.equal(overClient.status, 403, 'the client has started 5 requests in this request lifetime');
  t.equal(overClient.json.error, 'access_denied');
  t.equal(await limited('client_pending'), 1);
  // Another client still reaches bob (2 pending < 3).
  t.equal((await start('ciba-ping', BOB.username)).status, 200, 'other clients are not limited');

  t.equal((await start('ciba-poll', BOB.username)).status, 403, '8th request: still the client cap');
  const flood = await start('ciba-poll', BOB.username);
  t.equal(flood.status, 429, 'the 9th request in a minute is rate limited');
  t.equal(flood.json.error, 'slow_down');
  const retryAfter = Number(flood.headers['retry-after']);
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${String(flood.headers['retry-after'])}`);
  t.equal(await limited('client_rate'), 1);

  // The device shows at most the cap (the 1,000-request page is impossible).
  // After the requests expire and the windows pass, the client is served again.
  clock.advance(61_000);
  t.equal((await start('ciba-poll', ALICE.username)).status, 200, 'served again after the window');
});
