/**
 * Guessing passwords and user_codes (NIST SP 800-63B §5.2.2), against a running issuer on loopback with
 * an injected clock: every sign-in page and the backchannel user_code check count guesses per source and
 * user, per user and per source, across authorization requests; while a limit waits the secret is not
 * checked (the right one is refused like a wrong one); a victim signing in from another address is not
 * locked out by one attacker, and by many for at most the per-user cap. Other 127.x addresses are other
 * sources.
 */
import t, { type Test } from 'tap';
import { issuerConfigSchema } from '../../src/issuer/config.js';
import { sourceAddress } from '../../src/issuer/users/sign-in-limits.js';
import {
  ALICE,
  BOB,
  FormBrowser,
  startCodeFlowIssuer,
  WEB_CLIENT_ID,
  type CodeFlowIssuer,
} from '../helpers/code-flow.js';
import type { HttpsResponse } from '../helpers/issuer.js';
import { fetchText } from '../helpers/metrics-text.js';

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
const BOB_CODE = '4711';
const ATTACKER = '127.0.0.1';
const VICTIM = '127.0.0.2';

interface Issuer {
  as: CodeFlowIssuer;
  /** Moves the issuer's (frozen) clock forward. */
  advance: (seconds: number) => void;
}

async function issuer(t: Test, config: Record<string, unknown> = {}): Promise<Issuer> {
  // Frozen unless a test moves it: waits are judged by this clock only.
  let nowMs = Date.now();
  const as = await startCodeFlowIssuer({
    extraClients: [
      {
        clientId: 'coded',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Acme,CN=client-a',
        scopes: ['openid'],
        grantTypes: [CIBA_GRANT],
        backchannelTokenDeliveryMode: 'poll',
        cibaProfile: 'ciba-core',
        backchannelUserCodeParameter: true,
      },
    ],
    config: {
      users: [
        { ...ALICE, claims: { name: 'Alice Doe' } },
        { ...BOB, claims: {}, userCode: BOB_CODE },
      ],
      ...config,
    },
    options: { clock: () => nowMs },
  });
  t.teardown(() => as.close());
  return {
    as,
    advance: (seconds) => {
      nowMs += seconds * 1000;
    },
  };
}

async function deviceSignIn(
  browser: FormBrowser,
  user: { username: string; password: string },
): Promise<HttpsResponse> {
  const page = await browser.get('/device');
  return browser.submit(page, { username: user.username, password: user.password });
}

const retryAfter = (res: HttpsResponse) => Number(res.headers['retry-after']);

function paused(t: Test, res: HttpsResponse, what: string): void {
  t.equal(res.status, 429, `${what}: 429`);
  t.ok(retryAfter(res) >= 1, `${what}: Retry-After ${String(res.headers['retry-after'])}`);
  t.match(res.text, /Too many failed sign-in attempts/, `${what}: says so`);
  t.match(res.text, /try again in \d+ (seconds?|minutes)/, `${what}: says when`);
  t.notMatch(res.text, /not correct/, `${what}: says nothing about the password`);
}

t.test(
  'device page: wrong passwords until paused, the right one refused unchecked, then signs in',
  async (t) => {
    const { as, advance } = await issuer(t);
    const attacker = new FormBrowser(as, ATTACKER);
    const answers: number[] = [];
    for (let i = 0; i < 40; i++)
      answers.push(
        (await deviceSignIn(attacker, { username: ALICE.username, password: `guess-${i}` })).status,
      );
    t.same(
      answers.slice(0, 5),
      [401, 401, 401, 401, 401],
      'five wrong passwords are checked (signIn.limits.perSourceAndUser.failuresBeforeDelay)',
    );
    t.same(new Set(answers.slice(5)), new Set([429]), 'the other 35 are not checked at all');

    const right = await deviceSignIn(attacker, ALICE);
    paused(t, right, 'the right password while paused');
    t.equal(retryAfter(right), 30, 'the first wait: firstDelaySeconds');
    const wrong = await deviceSignIn(attacker, { username: ALICE.username, password: 'another guess' });
    // Only the per-response nonce and CSRF token differ.
    const page = (res: HttpsResponse) =>
      `${res.status} ${String(res.headers['retry-after'])} ${res.text.replace(/(value|nonce)="[^"]*"/g, '')}`;
    t.equal(page(wrong), page(right), 'a wrong password gets the same answer: no oracle');
    t.match((await attacker.get('/device')).text, /password/i, 'not signed in');

    advance(29);
    paused(t, await deviceSignIn(attacker, ALICE), 'one second before the wait ends');
    advance(1);
    const after = await deviceSignIn(attacker, ALICE);
    t.equal(after.status, 303, 'after the wait the right password signs in');
    t.match((await attacker.get('/device')).text, /Signed in as alice/);

    const metrics = await fetchText(as.issuer.adminPort!, '/metrics');
    t.match(
      metrics.body,
      /fapi_issuer_sign_in_limited_total\{credential="password",limit="source_user"\} (3[6-9]|[4-9]\d)/,
    );
    t.match(metrics.body, /fapi_issuer_refusals_total\{reason="sign_in_limited"\} [1-9]/);
    // Every refused sign-in is counted: the five checked wrong passwords as sign_in_failed.
    t.match(metrics.body, /fapi_issuer_refusals_total\{reason="sign_in_failed"\} 5\n/);
    const empty = await deviceSignIn(new FormBrowser(as, '127.0.0.3'), { username: '', password: '' });
    t.equal(empty.status, 400, 'a sign-in without username and password');
    t.match(
      (await fetchText(as.issuer.adminPort!, '/metrics')).body,
      /fapi_issuer_refusals_total\{reason="form_incomplete"\} 1\n/,
      'counted as form_incomplete',
    );
  },
);

t.test('code flow: the count holds across new PARs and is shared with the device page', async (t) => {
  const { as, advance } = await issuer(t);
  const browser = new FormBrowser(as, ATTACKER);
  const loginPage = async () => {
    const par = await as.par(await as.requestObject());
    t.equal(par.status, 201);
    const page = await browser.get(
      `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(String(par.json['request_uri']))}`,
    );
    t.match(page.text, /Sign in/);
    return page;
  };
  // Three requests, each started afresh by the client: the guesses add up.
  for (const guesses of [2, 2, 1]) {
    let page = await loginPage();
    for (let i = 0; i < guesses; i++) {
      page = await browser.submit(page, { username: ALICE.username, password: `wrong-${i}` });
      t.equal(page.status, 200);
      t.match(page.text, /not correct/);
    }
  }
  const fresh = await loginPage();
  const refused = await browser.submit(fresh, { username: ALICE.username, password: ALICE.password });
  paused(t, refused, 'a fourth request with the right password');
  t.match(refused.text, /Sign in/, 'the login form is shown again');
  paused(t, await deviceSignIn(new FormBrowser(as, ATTACKER), ALICE), 'the device page too');

  advance(30);
  const signedIn = await browser.submit(refused, { username: ALICE.username, password: ALICE.password });
  t.equal(signedIn.status, 200, 'after the wait: the consent page');
  t.match(signedIn.text, /Approve/);
  const metrics = await fetchText(as.issuer.adminPort!, '/metrics');
  t.match(
    metrics.body,
    /fapi_issuer_authorization_outcomes_total\{endpoint="login",outcome="login_limited"\} 1/,
  );
});

t.test(
  'user_code: guessing pauses per user and client; a 4-digit code lasts months, not minutes',
  async (t) => {
    const { as, advance } = await issuer(t);
    const guess = (code: string) =>
      as.postForm(
        '/backchannel-authentication',
        { client_id: 'coded', scope: 'openid', login_hint: BOB.username, user_code: code },
        { credential: as.pki.clientA },
      );
    for (let i = 0; i < 5; i++) {
      const wrong = await guess(String(1000 + i));
      t.equal(wrong.status, 400);
      t.equal(wrong.json.error, 'invalid_user_code');
    }
    const right = await guess(BOB_CODE);
    t.equal(right.status, 403, 'the right code while paused');
    t.equal(right.json.error, 'access_denied', 'CIBA Core §13: the OpenID Provider denied the request');
    t.equal(right.headers['retry-after'], '30');
    t.equal(right.headers['cache-control'], 'no-store');
    t.notOk(right.json['auth_req_id']);
    advance(30);
    const accepted = await guess(BOB_CODE);
    t.equal(accepted.status, 200, 'after the wait the right code is accepted');
    t.ok(accepted.json['auth_req_id']);

    // A client guessing as fast as it is allowed for one day of the issuer's clock.
    let checked = 0;
    // Bounded: without a limit every guess is checked and the day never passes.
    let elapsed = 0;
    for (let sent = 0; elapsed < 86400 && sent < 200; sent++) {
      const res = await guess('0000');
      if (res.status === 400) checked++;
      else {
        t.equal(res.status, 403);
        const wait = retryAfter(res);
        advance(wait);
        elapsed += wait;
      }
    }
    t.ok(elapsed >= 86400, 'a day passed within 200 guesses');
    t.ok(checked <= 40, `${checked} guesses checked in a day (10,000 codes: months on average)`);
    const metrics = await fetchText(as.issuer.adminPort!, '/metrics');
    t.match(
      metrics.body,
      /fapi_issuer_sign_in_limited_total\{credential="user_code",limit="source_user"\} [1-9]/,
    );
    t.match(metrics.body, /fapi_issuer_refusals_total\{reason="ciba_user_code_limited"\} [1-9]/);
  },
);

t.test(
  'a victim signs in from elsewhere: one attacker cannot lock them out, many for the cap at most',
  async (t) => {
    const { as, advance } = await issuer(t);
    const attacker = new FormBrowser(as, ATTACKER);
    for (let i = 0; i < 8; i++) await deviceSignIn(attacker, { username: ALICE.username, password: `x${i}` });
    paused(t, await deviceSignIn(attacker, ALICE), 'the attacker');
    const victim = await deviceSignIn(new FormBrowser(as, VICTIM), ALICE);
    t.equal(victim.status, 303, 'the victim from another address signs in at once');
    paused(t, await deviceSignIn(attacker, ALICE), "the victim's sign-in does not lift the attacker's wait");

    // Guesses from ten addresses, one each, are the user's own limit (perUser.failuresBeforeDelay 10).
    for (let i = 0; i < 10; i++) {
      const res = await deviceSignIn(new FormBrowser(as, `127.0.1.${i + 1}`), {
        username: ALICE.username,
        password: 'y',
      });
      t.equal(res.status, 401);
    }
    const blocked = await deviceSignIn(new FormBrowser(as, VICTIM), ALICE);
    paused(t, blocked, 'many sources slow the user down for everyone');
    t.equal(retryAfter(blocked), 30);
    // The spread-out attacker keeps guessing whenever allowed: the wait doubles up to perUser's cap.
    let longest = 0;
    for (let i = 0; i < 8; i++) {
      const probe = await deviceSignIn(new FormBrowser(as, VICTIM), ALICE);
      t.equal(probe.status, 429);
      longest = Math.max(longest, retryAfter(probe));
      advance(retryAfter(probe));
      const res = await deviceSignIn(new FormBrowser(as, `127.0.2.${i + 1}`), {
        username: ALICE.username,
        password: 'z',
      });
      t.equal(res.status, 401, 'one more guess from a fresh address');
    }
    t.equal(longest, 900, 'the victim never waits longer than perUser.maxDelaySeconds');
    advance(900);
    t.equal((await deviceSignIn(new FormBrowser(as, VICTIM), ALICE)).status, 303, 'then signs in');
    const metrics = await fetchText(as.issuer.adminPort!, '/metrics');
    t.match(metrics.body, /fapi_issuer_sign_in_limited_total\{credential="password",limit="user"\} [1-9]/);
  },
);

t.test('one source guessing across many users is paused too (perSource)', async (t) => {
  const { as } = await issuer(t, {
    signIn: {
      limits: { perSource: { failuresBeforeDelay: 6, firstDelaySeconds: 60, maxDelaySeconds: 600 } },
    },
  });
  const sprayer = new FormBrowser(as, ATTACKER);
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++)
    statuses.push((await deviceSignIn(sprayer, { username: `user-${i}`, password: 'Winter2026!' })).status);
  t.same(statuses, [401, 401, 401, 401, 401, 401, 429, 429], 'unknown usernames count like known ones');
  const res = await deviceSignIn(sprayer, ALICE);
  paused(t, res, 'the source');
  t.equal(retryAfter(res), 60);
  t.equal((await deviceSignIn(new FormBrowser(as, VICTIM), ALICE)).status, 303, 'other sources are not');
});

t.test('signIn.limits is validated with the key named', (t) => {
  const base = {
    issuer: 'https://issuer.example',
    tls: { cert: 'c', key: 'k', clientCa: 'ca' },
    signingKeys: [{ file: 'k', alg: 'PS256', kid: 'k' }],
    accessTokens: { audience: 'a' },
  };
  const parsed = issuerConfigSchema.parse(base);
  t.same(parsed.signIn.limits.perUser, {
    failuresBeforeDelay: 10,
    firstDelaySeconds: 30,
    maxDelaySeconds: 900,
  });
  const tooLong = issuerConfigSchema.safeParse({
    ...base,
    signIn: { limits: { perUser: { maxDelaySeconds: 86400 } } },
  });
  t.equal(tooLong.success, false, 'a user cannot be locked out for a day');
  t.same(tooLong.error?.issues[0]?.path, ['signIn', 'limits', 'perUser', 'maxDelaySeconds']);
  const inverted = issuerConfigSchema.safeParse({
    ...base,
    signIn: { limits: { perSource: { firstDelaySeconds: 600, maxDelaySeconds: 60 } } },
  });
  t.same(inverted.error?.issues[0]?.path, ['signIn', 'limits', 'perSource', 'maxDelaySeconds']);
  t.end();
});

t.test('sources: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', (t) => {
  t.equal(sourceAddress('203.0.113.7'), '203.0.113.7');
  t.equal(sourceAddress('::ffff:203.0.113.7'), '203.0.113.7');
  t.equal(sourceAddress('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.equal(sourceAddress('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64', 'same /64: same source');
  t.equal(sourceAddress('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(sourceAddress('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(sourceAddress(undefined), 'unknown');
  t.end();
});
