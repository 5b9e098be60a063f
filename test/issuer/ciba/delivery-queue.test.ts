/**
 * CIBA push deliveries queued in Redis, with issuer replicas as separate processes sharing one Redis:
 * a push whose notification endpoint keeps failing is retried on the backoff schedule, survives the
 * SIGKILL of the replica that took the decision, and is delivered by the other replica with tokens that
 * replica minted (the dead replica's tokens are revoked, never delivered). A push abandoned at expiry
 * revokes its tokens. Here only the delivery queue is shared: each replica keeps its other state in
 * memory, which is why the tokens are checked at the replica that minted them.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { freshContext, launchChromium } from '../../helpers/browser.js';
import {
  ALICE,
  decideOnDevice,
  notificationToken,
  startFlakyNotificationEndpoint,
} from '../../helpers/ciba.js';
import { httpsRequest, outcome } from '../../helpers/issuer.js';
import { startIssuerReplica, type IssuerReplica } from '../../helpers/issuer-replica.js';
import { testPki, type TestPki } from '../../helpers/pki.js';
import { startRedisServer } from '../../helpers/redis-server.js';
import { until } from '../../helpers/until.js';

function replicaConfig(pki: TestPki, notifyUrl: string, expiresInSeconds: number) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = path.join(pki.dir, `replicas-${randomBytes(4).toString('hex')}.pem`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return {
    issuer: 'https://localhost:0',
    listen: { host: '127.0.0.1', port: 0 },
    mtls: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
    signingKeys: [{ file: key, alg: 'PS256', kid: 'replicas-1' }],
    accessTokens: { audience: 'https://api.example', ttlSeconds: 300 },
    users: [{ ...ALICE, claims: { name: 'Alice Doe' } }],
    clients: [
      {
        clientId: 'ciba-push',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Other,CN=client-b',
        backchannelTokenDeliveryMode: 'push',
        backchannelClientNotificationEndpoint: notifyUrl,
        cibaProfile: 'ciba-core',
        scopes: ['openid', 'accounts'],
        grantTypes: ['urn:openid:params:grant-type:ciba'],
      },
    ],
    ciba: { expiresInSeconds, intervalSeconds: 1, devicePath: '/device', notificationCa: pki.ca.certFile },
    logging: { level: 'info' },
  };
}

async function startPush(pki: TestPki, replica: IssuerReplica, bindingMessage: string, bearer: string) {
  const r = await httpsRequest(`${replica.mtlsUrl}/backchannel-authentication`, {
    method: 'POST',
    ca: pki.ca.certPem,
    credential: pki.clientB,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: 'ciba-push',
      scope: 'openid accounts',
      login_hint: ALICE.username,
      binding_message: bindingMessage,
      client_notification_token: bearer,
    }).toString(),
  });
  if (r.status !== 200) throw new Error(`backchannel request refused: ${outcome(r)}`);
  return String(r.json.auth_req_id);
}

/** What the resource owner's API would see: is this access token usable at the issuer that minted it? */
async function userinfoStatus(pki: TestPki, replica: IssuerReplica, accessToken: string): Promise<number> {
  const r = await httpsRequest(`${replica.mtlsUrl}/userinfo`, {
    ca: pki.ca.certPem,
    credential: pki.clientB,
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return r.status;
}

let browser: Awaited<ReturnType<typeof launchChromium>>;
t.before(async () => {
  browser = await launchChromium();
});
t.teardown(() => browser?.close());

t.test('a push retried after its replica is SIGKILLed is delivered by the other replica', async (t) => {
  const pki = await testPki();
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  const endpoint = await startFlakyNotificationEndpoint(pki);
  t.teardown(() => endpoint.close());
  const config = replicaConfig(pki, endpoint.url, 120);
  const ciba = { notificationBaseDelayMs: 300, notificationLockMs: 2000 };
  const one = await startIssuerReplica(pki.dir, { config, redisUrl: redis.url, ciba });
  t.teardown(() => one.kill());

  const bearer = notificationToken();
  const authReqId = await startPush(pki, one, 'KILL-1', bearer);
  const context = await freshContext(browser);
  t.teardown(() => context.close());
  t.match(
    await decideOnDevice(context, one.url, { bindingMessage: 'KILL-1', decision: 'Approve' }),
    /Approved/,
  );

  await until('two failed attempts', () => endpoint.hits.length >= 2);
  await one.kill();
  const killedAt = Date.now();
  const failed = endpoint.hits.length;
  t.ok(
    endpoint.hits.every((h) => h.answered === 503 && h.body.auth_req_id === authReqId),
    'replica 1 tried and the client refused',
  );
  const firstTokens = String(endpoint.hits[0]!.body.access_token);

  const two = await startIssuerReplica(pki.dir, { config, redisUrl: redis.url, ciba });
  t.teardown(() => two.kill());
  await until('another failed attempt, by replica 2', () => endpoint.hits.length > failed);
  endpoint.accept();
  const delivered = await until('the delivery', () => endpoint.hits.find((h) => h.answered === 204));

  t.ok(delivered.at > killedAt, 'delivered after replica 1 died');
  t.equal(delivered.authorization, `Bearer ${bearer}`);
  t.equal(delivered.body.auth_req_id, authReqId);
  t.equal(delivered.body.token_type, 'Bearer');
  const accessToken = String(delivered.body.access_token);
  t.not(accessToken, firstTokens, 'replica 2 minted its own tokens: it never held replica 1’s');
  t.equal(await userinfoStatus(pki, two, accessToken), 200, 'the delivered token works');
  const hits = endpoint.hits.length;
  // Delivered once: nothing more arrives after the 204.
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(endpoint.hits.length, hits, 'no delivery after the accepted one');
  t.ok(
    two.logs.some((l) => l.msg === 'CIBA notification delivered'),
    'replica 2 logged the delivery',
  );
  const gaps = endpoint.hits.slice(1, failed).map((h, i) => h.at - endpoint.hits[i]!.at);
  t.ok(
    gaps.every((g) => g >= 250),
    `retries wait for the backoff (gaps ${gaps.join(', ')} ms, base 300 ms)`,
  );
});

t.test('a push abandoned at expiry revokes the tokens it carried', async (t) => {
  const pki = await testPki();
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  const endpoint = await startFlakyNotificationEndpoint(pki);
  t.teardown(() => endpoint.close());
  const config = replicaConfig(pki, endpoint.url, 10);
  const one = await startIssuerReplica(pki.dir, {
    config,
    redisUrl: redis.url,
    ciba: { notificationBaseDelayMs: 500, notificationLockMs: 2000 },
  });
  t.teardown(() => one.kill());
  await startPush(pki, one, 'EXPIRE-1', notificationToken());
  const context = await freshContext(browser);
  t.teardown(() => context.close());
  t.match(
    await decideOnDevice(context, one.url, { bindingMessage: 'EXPIRE-1', decision: 'Approve' }),
    /Approved/,
  );
  const token = String((await until('a first attempt', () => endpoint.hits[0])).body.access_token);
  t.equal(await userinfoStatus(pki, one, token), 200, 'usable while the delivery is still being tried');
  await until(
    'the abandonment',
    () => one.logs.some((l) => l.msg === 'undelivered CIBA push tokens revoked'),
    30_000,
  );
  t.equal(await userinfoStatus(pki, one, token), 401, 'revoked once abandoned');
  t.ok(one.logs.some((l) => /abandoned/.test(String(l.msg))));
});
