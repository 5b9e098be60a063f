/**
 * CIBA with two issuer processes sharing one Redis (`storage.type: redis`, a real redis-server) behind one
 * public issuer URL: a request approved on replica 1's device page is polled on replica 2; `slow_down`
 * holds across replicas; a ping and a push whose notification endpoint fails are retried on the backoff
 * schedule, survive the SIGKILL of replica 1 in the middle of an attempt and are delivered by replica 2,
 * at least once and never twice at the same time for one auth_req_id; a push abandoned at expiry revokes
 * its tokens at every replica. Both replicas run delivery workers the whole time, so the job lock is what
 * keeps them from delivering one notification twice at once.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { freshContext, launchChromium } from '../helpers/browser.js';
import {
  ALICE,
  CIBA_GRANT,
  decideOnDevice,
  notificationToken,
  startFlakyNotificationEndpoint,
} from '../helpers/ciba.js';
import { httpsRequest, outcome, type HttpsResponse } from '../helpers/issuer.js';
import { startIssuerReplica, type IssuerReplica } from '../helpers/issuer-replica.js';
import { fetchText } from '../helpers/metrics-text.js';
import { testPki, type TestCredential } from '../helpers/pki.js';
import { freePort, startRedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

interface Replica {
  process: IssuerReplica;
  /** This replica's own listeners (the public URL names replica 1's). */
  main: string;
  mtls: string;
}

let browser: Awaited<ReturnType<typeof launchChromium>>;
t.before(async () => {
  browser = await launchChromium();
});
t.teardown(() => browser?.close());

t.test('CIBA across two issuer replicas sharing Redis', async (t) => {
  const pki = await testPki();
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  const endpoint = await startFlakyNotificationEndpoint(pki, 600);
  t.teardown(() => endpoint.close());
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = path.join(pki.dir, `replicas-ciba-${randomBytes(4).toString('hex')}.pem`);
  writeFileSync(signingKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  let ports: number[] = [];
  const issuerUrl = () => `https://localhost:${ports[0]}`;
  const cibaClient = (clientId: string, mode: 'poll' | 'ping' | 'push', dn: string) => ({
    clientId,
    authMethod: 'tls_client_auth',
    tlsClientAuthSubjectDn: dn,
    backchannelTokenDeliveryMode: mode,
    ...(mode !== 'poll' && { backchannelClientNotificationEndpoint: endpoint.url }),
    cibaProfile: 'ciba-core',
    scopes: ['openid', 'accounts'],
    grantTypes: [CIBA_GRANT],
  });
  const config = (main: number, mtls: number) => ({
    issuer: issuerUrl(),
    listen: { host: '127.0.0.1', port: main },
    mtls: { host: '127.0.0.1', port: mtls, baseUrl: `https://localhost:${ports[1]}` },
    admin: { host: '127.0.0.1', port: 0 },
    tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
    signingKeys: [{ file: signingKey, alg: 'PS256', kid: 'replicas-ciba-1' }],
    accessTokens: { audience: 'https://api.example', ttlSeconds: 300 },
    users: [{ ...ALICE, claims: { name: 'Alice Doe' } }],
    clients: [
      cibaClient('ciba-poll', 'poll', 'O=Acme,CN=client-a'),
      cibaClient('ciba-ping', 'ping', 'O=Other,CN=client-b'),
      cibaClient('ciba-push', 'push', 'O=Other,CN=client-b'),
    ],
    ciba: {
      expiresInSeconds: 120,
      intervalSeconds: 2,
      devicePath: '/device',
      notificationCa: pki.ca.certFile,
    },
    storage: { type: 'redis', redis: { url: redis.url } },
    logging: { level: 'info' },
  });
  // Retries from 300 ms; a killed replica's claim on a running attempt lapses after 2 s.
  const ciba = { notificationBaseDelayMs: 300, notificationLockMs: 2000 };
  const start = async (main: number, mtls: number): Promise<Replica> => {
    const process = await startIssuerReplica(pki.dir, { config: config(main, mtls), ciba });
    t.teardown(() => process.kill());
    return { process, main: `https://localhost:${main}`, mtls: `https://localhost:${mtls}` };
  };
  // The public URL names fixed ports; one taken by another process in the meantime is retried.
  let pair: Replica[] | undefined;
  for (let attempt = 1; !pair; attempt++) {
    ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    try {
      pair = await Promise.all([start(ports[0]!, ports[1]!), start(ports[2]!, ports[3]!)]);
    } catch (err) {
      if (attempt >= 3 || !/already in use/.test(String(err))) throw err;
    }
  }
  const [one, two] = pair as [Replica, Replica];
  for (const r of [one, two]) {
    const since = Date.now();
    while ((await fetchText(r.process.adminPort, '/readyz')).status !== 200) {
      if (Date.now() - since > 30_000) throw new Error('replica not ready');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const credentialOf = (clientId: string): TestCredential =>
    clientId === 'ciba-poll' ? pki.clientA : pki.clientB;
  const post = (r: Replica, pathname: string, clientId: string, form: Record<string, string>) =>
    httpsRequest(r.mtls + pathname, {
      method: 'POST',
      ca: pki.ca.certPem,
      credential: credentialOf(clientId),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, ...form }).toString(),
    });
  const backchannel = async (r: Replica, clientId: string, bindingMessage: string, extra = {}) => {
    const res = await post(r, '/backchannel-authentication', clientId, {
      scope: 'openid accounts',
      login_hint: ALICE.username,
      binding_message: bindingMessage,
      ...(clientId !== 'ciba-poll' && { client_notification_token: notificationToken() }),
      ...extra,
    });
    if (res.status !== 200) throw new Error(`backchannel request refused: ${outcome(res)}`);
    return String(res.json.auth_req_id);
  };
  const poll = (r: Replica, clientId: string, authReqId: string) =>
    post(r, '/token', clientId, { grant_type: CIBA_GRANT, auth_req_id: authReqId });
  /** Is this access token usable (userinfo at `r`, with the client's certificate)? */
  const userinfo = async (r: Replica, clientId: string, accessToken: string): Promise<HttpsResponse> =>
    httpsRequest(`${r.mtls}/userinfo`, {
      ca: pki.ca.certPem,
      credential: credentialOf(clientId),
      headers: { authorization: `Bearer ${accessToken}` },
    });
  const approveOnOne = async (bindingMessage: string) => {
    const context = await freshContext(browser);
    try {
      return await decideOnDevice(context, one.main, { bindingMessage, decision: 'Approve' });
    } finally {
      await context.close();
    }
  };

  await t.test('a request approved on replica 1’s device page is polled on replica 2', async (t) => {
    const authReqId = await backchannel(one, 'ciba-poll', 'POLL-1');
    t.match(await approveOnOne('POLL-1'), /Approved/);
    const tokens = await poll(two, 'ciba-poll', authReqId);
    t.equal(tokens.status, 200, outcome(tokens));
    t.equal(tokens.json.token_type, 'Bearer');
    t.equal((await userinfo(one, 'ciba-poll', String(tokens.json.access_token))).status, 200);
    await new Promise((r) => setTimeout(r, 2100));
    const again = await poll(one, 'ciba-poll', authReqId);
    t.equal(again.status, 400, 'the tokens are issued once, whichever replica is asked');
    t.equal(again.json.error, 'invalid_grant');
  });

  await t.test('slow_down holds across replicas', async (t) => {
    const authReqId = await backchannel(two, 'ciba-poll', 'SLOW-1');
    const first = await poll(one, 'ciba-poll', authReqId);
    t.equal(first.status, 400);
    t.equal(first.json.error, 'authorization_pending');
    const fast = await poll(two, 'ciba-poll', authReqId);
    t.equal(fast.status, 400);
    t.equal(fast.json.error, 'slow_down', 'replica 2 knows replica 1 was polled a moment ago');
  });

  await t.test('a push abandoned at expiry revokes its tokens at every replica', async (t) => {
    const authReqId = await backchannel(two, 'ciba-push', 'EXPIRE-1', { requested_expiry: '10' });
    t.match(await approveOnOne('EXPIRE-1'), /Approved/);
    // The tokens of the attempt open at the endpoint stay current until that attempt has ended.
    const open = await until(
      'an attempt',
      () => endpoint.inFlight(authReqId) > 0 && endpoint.of(authReqId).at(-1),
    );
    const token = String(open.body.access_token);
    t.equal((await userinfo(two, 'ciba-push', token)).status, 200, 'usable while it is still being tried');
    const logs = () => [...one.process.logs, ...two.process.logs];
    await until(
      'the abandonment',
      () => logs().some((l) => l.msg === 'undelivered CIBA push tokens revoked'),
      30_000,
    );
    await until('the last attempt to end', () => endpoint.inFlight(authReqId) === 0);
    for (const h of endpoint.of(authReqId)) {
      const access = String(h.body.access_token);
      t.equal((await userinfo(one, 'ciba-push', access)).status, 401, 'revoked at replica 1');
      t.equal((await userinfo(two, 'ciba-push', access)).status, 401, 'revoked at replica 2');
    }
    t.ok(logs().some((l) => /abandoned/.test(String(l.msg))));
    t.ok(endpoint.mostAtOnce(authReqId) <= 1, 'never two attempts at once');
  });

  await t.test('a ping and a push survive the SIGKILL of replica 1 mid-attempt', async (t) => {
    const pingId = await backchannel(one, 'ciba-ping', 'KILL-PING');
    const pushId = await backchannel(one, 'ciba-push', 'KILL-PUSH');
    t.match(await approveOnOne('KILL-PING'), /Approved/);
    t.match(await approveOnOne('KILL-PUSH'), /Approved/);
    await until(
      'two failed attempts of each',
      () => endpoint.of(pingId).length >= 2 && endpoint.of(pushId).length >= 2,
    );
    // Kill replica 1 while one of its attempts is open at the endpoint, if it holds one.
    await until(
      'an attempt in flight',
      () => endpoint.inFlight(pingId) + endpoint.inFlight(pushId) > 0,
      30_000,
    );
    await one.process.kill();
    const killedAt = Date.now();
    const before = { ping: endpoint.of(pingId).length, push: endpoint.of(pushId).length };
    const firstPushToken = String(endpoint.of(pushId)[0]!.body.access_token);
    await until(
      'replica 2 to keep retrying both',
      () => endpoint.of(pingId).length > before.ping && endpoint.of(pushId).length > before.push,
    );
    endpoint.accept();
    const delivered = (id: string) => endpoint.of(id).find((h) => h.answered === 204);
    const ping = await until('the ping', () => delivered(pingId));
    const push = await until('the push', () => delivered(pushId));
    t.ok(ping.at > killedAt && push.at > killedAt, 'both delivered after replica 1 died');
    t.same(ping.body, { auth_req_id: pingId }, 'the ping carries the auth_req_id only (CIBA §10.2)');
    t.equal(push.body.token_type, 'Bearer');
    t.match(push.authorization, /^Bearer .{32}/);

    const pushed = String(push.body.access_token);
    t.equal((await userinfo(two, 'ciba-push', pushed)).status, 200, 'the delivered token works');
    if (pushed !== firstPushToken)
      t.equal(
        (await userinfo(two, 'ciba-push', firstPushToken)).status,
        401,
        'tokens minted for an attempt the client never accepted are revoked',
      );
    const tokens = await poll(two, 'ciba-ping', pingId);
    t.equal(tokens.status, 200, `the pinged client fetches its tokens at replica 2 (${outcome(tokens)})`);

    const counts = { ping: endpoint.of(pingId).length, push: endpoint.of(pushId).length };
    await new Promise((r) => setTimeout(r, 2000));
    t.same(
      { ping: endpoint.of(pingId).length, push: endpoint.of(pushId).length },
      counts,
      'nothing is sent after the accepted notification',
    );
    t.equal(endpoint.of(pingId).filter((h) => h.answered === 204).length, 1, 'the ping was accepted once');
    t.equal(endpoint.of(pushId).filter((h) => h.answered === 204).length, 1, 'the push was accepted once');
    t.equal(endpoint.mostAtOnce(pingId), 1, 'never two ping attempts at once');
    t.equal(endpoint.mostAtOnce(pushId), 1, 'never two push attempts at once');
    const gaps = endpoint
      .of(pushId)
      .slice(1, before.push)
      .map((h, i) => h.at - endpoint.of(pushId)[i]!.at);
    t.ok(
      gaps.every((g) => g >= 250 + 600),
      `retries wait for the answer and the backoff (gaps ${gaps.join(', ')} ms, hold 600, base 300 ms)`,
    );
  });
});
