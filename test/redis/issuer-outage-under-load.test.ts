/**
 * Redis stopped while the issuer (`storage.type: redis`, a real redis-server) serves a steady stream of
 * requests from several clients: client_credentials with fresh client assertions, PAR, request_uris used at
 * /authorize, sign-in and consent, and code redemption (two clients racing for every code). First Redis is
 * frozen (SIGSTOP: connections stay open, nothing answers), then killed and started again on the same port
 * (empty: persistence is off). While it is away every answer is a 503 (JSON `temporarily_unavailable` at
 * the token and PAR endpoints), no other 5xx, the process stays up and /readyz says 503; afterwards it
 * serves again without a restart; and no code or request_uri is used twice across the outages.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import {
  ALICE,
  FormBrowser,
  responseParameters,
  startCodeFlowIssuer,
  type CodeFlowIssuer,
} from '../helpers/code-flow.js';
import { ASSERTION_TYPE, clientAssertion, type HttpsResponse } from '../helpers/issuer.js';
import { fetchText } from '../helpers/metrics-text.js';
import { pkcePair } from '../helpers/request-objects.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

type Kind = 'client_credentials' | 'par' | 'authorize' | 'sign-in' | 'redeem';

interface Answer {
  kind: Kind;
  started: number;
  ended: number;
  status: number;
  error?: string;
  contentType: string;
}

t.test('Redis stopped under load and restarted: 503s only, then service, nothing used twice', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const as: CodeFlowIssuer = await startCodeFlowIssuer({
    config: { storage: { type: 'redis', redis: { url: redis.url, commandTimeoutMs: 500 } } },
    options: { logger },
  });
  t.teardown(() => as.close());
  const ready = async () => (await fetchText(as.issuer.adminPort!, '/readyz')).status;
  await until('ready', async () => (await ready()) === 200);

  const answers: Answer[] = [];
  const failures: string[] = [];
  const record = async (kind: Kind, send: () => Promise<HttpsResponse>): Promise<HttpsResponse> => {
    const started = Date.now();
    try {
      const res = await send();
      answers.push({
        kind,
        started,
        ended: Date.now(),
        status: res.status,
        ...(typeof res.json?.error === 'string' && { error: res.json.error }),
        contentType: String(res.headers['content-type'] ?? ''),
      });
      return res;
    } catch (err) {
      // A reset connection or a hang is a failure of its own, not an answer.
      failures.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
  };

  const ccAssertion = () =>
    clientAssertion({
      clientId: 'jwt-client',
      audience: as.issuer.url,
      key: as.jwtClient.privateKey,
      kid: as.jwtClient.publicJwk.kid,
    });
  const clientCredentials = async () =>
    record('client_credentials', async () =>
      as.postForm(
        '/token',
        {
          client_id: 'jwt-client',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await ccAssertion(),
          grant_type: 'client_credentials',
          scope: 'accounts',
        },
        { credential: as.pki.clientA },
      ),
    );

  /** request_uri → how many times /authorize accepted it; code → how many token responses it bought. */
  const requestUriUses = new Map<string, number>();
  const codeRedemptions = new Map<string, number>();
  const codes: { code: string; verifier: string }[] = [];

  const pushRequest = async () => {
    const { verifier, challenge } = pkcePair();
    const request = await as.requestObject({ code_challenge: challenge });
    const pushed = await record('par', async () => as.par(request));
    if (pushed.status !== 201) return undefined;
    const requestUri = String(pushed.json.request_uri);
    requestUriUses.set(requestUri, 0);
    return { requestUri, verifier };
  };
  const useRequestUri = async (browser: FormBrowser, requestUri: string) => {
    const page = await record('authorize', () =>
      browser.get(`/authorize?client_id=acme-web&request_uri=${encodeURIComponent(requestUri)}`),
    );
    if (page.status === 200) requestUriUses.set(requestUri, (requestUriUses.get(requestUri) ?? 0) + 1);
    return page;
  };
  /** PAR, /authorize, sign-in, consent: a code, or undefined when a step was refused. */
  const newCode = async () => {
    const pushed = await pushRequest();
    if (!pushed) return;
    const browser = new FormBrowser(as);
    const login = await useRequestUri(browser, pushed.requestUri);
    if (login.status !== 200) return;
    const consent = await record('sign-in', () =>
      browser.submit(login, { username: ALICE.username, password: ALICE.password }),
    );
    const done =
      consent.status === 200
        ? await record('sign-in', () => browser.submit(consent, { decision: 'approve' }))
        : consent;
    if (done.status !== 303) return;
    const code = responseParameters(String(done.headers['location'])).get('code');
    if (code) codes.push({ code, verifier: pushed.verifier });
  };
  const redeem = async (c: { code: string; verifier: string }) => {
    const res = await record('redeem', () =>
      as.token({
        grant_type: 'authorization_code',
        code: c.code,
        redirect_uri: 'https://client.example/cb',
        code_verifier: c.verifier,
      }),
    );
    if (res.status === 200) codeRedemptions.set(c.code, (codeRedemptions.get(c.code) ?? 0) + 1);
  };

  // Codes and request_uris made before the first outage, to be raced for during and after it.
  for (let i = 0; i < 3; i++) await newCode();
  const spareRequestUris = (await Promise.all([pushRequest(), pushRequest(), pushRequest()])).filter(
    (p) => p !== undefined,
  );
  t.equal(codes.length, 3, 'codes issued before the outage');

  let running = true;
  const loop = async (step: () => Promise<unknown>) => {
    while (running) {
      await step().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  let next = 0;
  const workers = [
    loop(clientCredentials),
    loop(clientCredentials),
    loop(newCode),
    // Two clients race for every code, again and again: only one token response per code, ever.
    loop(async () => redeem(codes[next++ % codes.length]!)),
    loop(async () => redeem(codes[next++ % codes.length]!)),
    loop(async () => {
      for (const p of spareRequestUris) await useRequestUri(new FormBrowser(as), p.requestUri);
    }),
  ];
  const servesAgain = async (since: number) =>
    until(
      'a client_credentials token after the outage',
      () => answers.some((a) => a.kind === 'client_credentials' && a.started > since && a.status === 200),
      60_000,
    );

  await new Promise((r) => setTimeout(r, 1500));
  const outages: { from: number; to: number; how: string }[] = [];

  // Frozen: the connection stays open, every command times out.
  redis.pause();
  let from = Date.now();
  await new Promise((r) => setTimeout(r, 3000));
  outages.push({ from, to: Date.now(), how: 'SIGSTOP' });
  redis.resume();
  await servesAgain(outages[0]!.to);

  // Killed and started again on the same port, empty.
  await redis.stop('SIGKILL');
  from = Date.now();
  await until('/readyz 503 while Redis is down', async () => (await ready()) === 503, 10_000);
  await new Promise((r) => setTimeout(r, 2000));
  outages.push({ from, to: Date.now(), how: 'SIGKILL' });
  await redis.start();
  await servesAgain(outages[1]!.to);
  await until('/readyz 200 again', async () => (await ready()) === 200, 30_000);
  // A whole code flow and its redemption after the restart.
  const before = codes.length;
  await until('a new code', () => codes.length > before, 30_000);
  await until('a redemption after the restart', () =>
    answers.some((a) => a.kind === 'redeem' && a.started > outages[1]!.to && a.status === 200),
  );
  running = false;
  await Promise.all(workers);

  t.same(failures, [], 'every request was answered (no reset, no hang)');
  const fiveHundreds = answers.filter((a) => a.status >= 500 && a.status !== 503);
  t.same(fiveHundreds, [], 'no 5xx other than 503');
  const unavailable = answers.filter((a) => a.status === 503);
  for (const o of outages) {
    const inside = answers.filter((a) => a.started >= o.from && a.ended <= o.to);
    t.ok(inside.length >= 5, `requests were made during the ${o.how} outage (${inside.length})`);
    t.same(
      inside.filter((a) => a.status !== 503),
      [],
      `only 503 while Redis was away (${o.how})`,
    );
  }
  t.same(
    unavailable.filter(
      (a) =>
        (a.kind === 'client_credentials' || a.kind === 'redeem' || a.kind === 'par') &&
        (a.error !== 'temporarily_unavailable' || !a.contentType.startsWith('application/json')),
    ),
    [],
    'the token and PAR endpoints answer JSON temporarily_unavailable',
  );
  t.same(
    unavailable.filter(
      (a) => (a.kind === 'authorize' || a.kind === 'sign-in') && !/text\/html/.test(a.contentType),
    ),
    [],
    'the pages answer a plain error page',
  );
  t.same(
    [...codeRedemptions].filter(([, n]) => n > 1),
    [],
    `no code redeemed twice (${codeRedemptions.size} codes redeemed, ${codes.length} issued)`,
  );
  t.ok(codeRedemptions.size >= 3, 'codes were redeemed');
  t.same(
    [...requestUriUses].filter(([, n]) => n > 1),
    [],
    `no request_uri used twice (${requestUriUses.size} pushed)`,
  );
  const byKind = (k: Kind) => answers.filter((a) => a.kind === k && a.status < 300).length;
  t.ok(
    byKind('client_credentials') > 0 && byKind('par') > 0 && byKind('authorize') > 0,
    'the load was served',
  );
  const outageLogs = logs.filter((l) => /^Redis unavailable/.test(String(l.msg)));
  t.ok(
    outageLogs.length >= 1 && outageLogs.length <= outages.length,
    `the outage is logged once, not per request (${outageLogs.length} lines for ${unavailable.length} 503s)`,
  );
  t.equal((await clientCredentials()).status, 200, 'the same process serves on');
});
