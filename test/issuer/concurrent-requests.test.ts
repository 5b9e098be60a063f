/**
 * Concurrent requests against a store that answers like one across a network (every operation yields
 * for 3 ms, each still atomic): a flow that decides on what it read and writes back later lets several
 * requests through here, as it would with several replicas on a shared store. Each race has one winner.
 */
import t, { type Test } from 'tap';
import { createMemoryStorage } from '../../src/issuer/storage/memory-store.js';
import type { IssuerOptions } from '../../src/issuer/server.js';
import {
  ALICE,
  BOB,
  FormBrowser,
  WEB_CLIENT_ID,
  responseParameters,
  startCodeFlowIssuer,
  type CodeFlowIssuer,
} from '../helpers/code-flow.js';
import { ALICE as CIBA_ALICE, startCibaIssuer, type CibaIssuer } from '../helpers/ciba.js';
import { outcome, type HttpsResponse } from '../helpers/issuer.js';
import { withLatency } from '../helpers/latency-store.js';
import { pkcePair } from '../helpers/request-objects.js';

const slowStore: IssuerOptions['storage'] = (config, clock) =>
  withLatency(createMemoryStorage({ clients: config.clients, clock }), 3);

/** Status and where it leads or what it says, for assertion messages. */
const described = (r: HttpsResponse) =>
  `${r.status} ${(r.headers['location'] as string | undefined) ?? /<p[^>]*>([^<]*)</.exec(r.text)?.[1] ?? ''}`;

const count = (responses: HttpsResponse[], status: number) =>
  responses.filter((r) => r.status === status).length;

t.test('authorization code flow', async (t) => {
  const as: CodeFlowIssuer = await startCodeFlowIssuer({ options: { storage: slowStore } });
  t.teardown(() => as.close());

  async function loginPage(t: Test, browser: FormBrowser, verifierChallenge = pkcePair()) {
    const par = await as.par(await as.requestObject({ code_challenge: verifierChallenge.challenge }));
    t.equal(par.status, 201, outcome(par));
    const requestUri = par.json['request_uri'] as string;
    const page = await browser.get(
      `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(requestUri)}`,
    );
    t.match(page.text, /Sign in/);
    return page;
  }

  t.test('three concurrent consent posts: one code, the others are told the request is done', async (t) => {
    const browser = new FormBrowser(as);
    const pkce = pkcePair();
    const consent = await browser.submit(await loginPage(t, browser, pkce), {
      username: ALICE.username,
      password: ALICE.password,
    });
    t.match(consent.text, /Approve/);
    const answers = await Promise.all([1, 2, 3].map(() => browser.submit(consent, { decision: 'approve' })));
    t.equal(count(answers, 303), 1, 'one redirect back to the client');
    t.equal(count(answers, 400), 2, 'the others see an ended request');
    const winner = answers.find((a) => a.status === 303)!;
    const code = responseParameters(winner.headers['location'] as string).get('code');
    t.ok(code);
    for (const loser of answers.filter((a) => a.status === 400))
      t.match(loser.text, /expired or was already completed/);

    // The code is single use even when it is redeemed concurrently.
    const exchange = () =>
      as.token({
        grant_type: 'authorization_code',
        code: code!,
        redirect_uri: 'https://client.example/cb',
        code_verifier: pkce.verifier,
      });
    const tokens = await Promise.all([exchange(), exchange(), exchange()]);
    t.equal(count(tokens, 200), 1, 'one token response');
    t.equal(count(tokens, 400), 2);
    for (const r of tokens.filter((x) => x.status === 400)) t.equal(r.json.error, 'invalid_grant');
  });

  t.test('sixteen concurrent wrong passwords: five are checked, the rest wait unchecked', async (t) => {
    // Bob, so that Alice's sign-ins below are not paused by these guesses.
    const browser = new FormBrowser(as);
    const login = await loginPage(t, browser);
    const answers = await Promise.all(
      Array.from({ length: 16 }, () => browser.submit(login, { username: BOB.username, password: 'nope' })),
    );
    t.equal(count(answers, 200), 5, 'five "not correct" pages (signIn.limits.perSourceAndUser)');
    t.equal(count(answers, 429), 11, 'guesses past the limit are not checked');
    const late = await browser.submit(login, { username: BOB.username, password: BOB.password });
    t.equal(late.status, 429, 'the right password waits too');
    const wait = Number(late.headers['retry-after']);
    t.ok(wait >= 1 && wait <= 30, `Retry-After ${wait}`);
  });

  t.test('two concurrent correct sign-ins continue the request once', async (t) => {
    // Consent for these scopes is remembered (above), so each sign-in alone would issue a code.
    const browser = new FormBrowser(as);
    const page = await loginPage(t, browser);
    const answers = await Promise.all(
      [1, 2].map(() => browser.submit(page, { username: ALICE.username, password: ALICE.password })),
    );
    const codes = answers.filter(
      (a) => a.status === 303 && responseParameters(a.headers['location'] as string).get('code'),
    );
    const seen = answers.map(described).join(' | ');
    t.equal(codes.length, 1, `one code (${seen})`);
    t.equal(count(answers, 400), 1, `the other sign-in finds the request ended (${seen})`);
  });
});

t.test('CIBA', async (t) => {
  const ci: CibaIssuer = await startCibaIssuer({
    options: { storage: slowStore },
    ciba: { intervalSeconds: 30 },
  });
  t.teardown(() => ci.close());
  const started = await ci.backchannel('ciba-poll', {
    request: await ci.requestObject({
      scope: 'openid accounts',
      login_hint: CIBA_ALICE.username,
      binding_message: 'RACE-1',
    }),
  });
  t.equal(started.status, 200, outcome(started));
  const authReqId = started.json['auth_req_id'] as string;

  const polls = await Promise.all([1, 2, 3].map(() => ci.poll('ciba-poll', authReqId)));
  t.same(
    polls.map((p) => p.json.error).sort(),
    ['authorization_pending', 'slow_down', 'slow_down'],
    'concurrent polls are rate limited: one is within the interval, the others are too soon',
  );

  const device = new FormBrowser(ci);
  const signIn = await device.get('/device');
  const signedIn = await device.submit(signIn, {
    username: CIBA_ALICE.username,
    password: CIBA_ALICE.password,
  });
  t.equal(signedIn.status, 303);
  const page = await device.get('/device');
  const handle = /name="request" value="([^"]+)"/.exec(page.text)?.[1];
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(page.text)?.[1];
  t.ok(handle && csrf, 'the device page lists the request');
  const decisions = await Promise.all(
    (['approve', 'deny', 'approve'] as const).map((decision) =>
      device.post('/device/decision', { csrf_token: csrf!, request: handle!, decision }),
    ),
  );
  const results = decisions.map((d) =>
    new URL(d.headers['location'] as string, ci.issuer.url).searchParams.get('result'),
  );
  t.equal(results.filter((r) => r === 'approved' || r === 'denied').length, 1, 'one decision is taken');
  const approved = results.includes('approved');

  const redeem = await Promise.all([1, 2, 3].map(() => ci.poll('ciba-poll', authReqId)));
  if (approved) {
    t.equal(count(redeem, 200), 1, 'tokens are issued once');
    t.same(
      redeem.filter((r) => r.status !== 200).map((r) => r.json.error),
      ['invalid_grant', 'invalid_grant'],
    );
  } else {
    t.same(
      redeem.map((r) => r.json.error),
      ['access_denied', 'access_denied', 'access_denied'],
    );
  }
});
