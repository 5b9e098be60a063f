/**
 * Fault injection: the issuer's outbound calls misbehaving. A CIBA client's notification endpoint (CIBA
 * Core §10.2 ping, §10.3 push) is the one dependency the issuer calls on a client's behalf; each fault
 * must end an attempt within the per-attempt deadline, be counted (`fapi_issuer_ciba_notifications_total`),
 * be retried rather than lost, and never hold up other clients: a ping client is notified and the
 * backchannel endpoint answers within a generous bound while the push endpoint is broken.
 *
 * Every fault case of the issuer, and where it lives:
 *
 * | dependency            | fault                                          | test                                    |
 * |-----------------------|------------------------------------------------|-----------------------------------------|
 * | notification endpoint | hangs, drips, resets, huge answer (2xx and     | here                                    |
 * |                       | 5xx), huge headers                             |                                         |
 * | notification endpoint | HTTP 5xx then success (retry with backoff),    | ciba/notification.test.ts               |
 * |                       | unreachable until expiry, redirects, untrusted |                                         |
 * |                       | certificate                                    |                                         |
 * | notification endpoint | down until expiry: abandoned and counted       | ciba/ping-push-modes.test.ts            |
 * | notification endpoint | replica killed during a push (Redis queue)     | ciba/delivery-queue.test.ts             |
 * | client jwks_uri       | unreachable / invalid                          | client-jwks-sources.test.ts             |
 * | Redis                 | down: 503 temporarily_unavailable              | redis-storage.test.ts                   |
 * | client bodies         | slow / oversized form bodies                   | parser-properties.test.ts, token-endpoint.test.ts |
 */
import t from 'tap';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type net from 'node:net';
import { ALICE, notificationToken, startCibaIssuer, type CibaIssuer } from '../helpers/ciba.js';
import { outcome } from '../helpers/issuer.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { testPki } from '../helpers/pki.js';
import { cibaOf } from '../../src/issuer/ciba/context.js';
import { endUsersOf } from '../../src/issuer/users/authenticator.js';

type Fault = 'hang' | 'drip' | 'reset' | 'huge_ok' | 'huge_error' | 'huge_headers';

/**
 * A push endpoint that answers each notification by the fault registered for its bearer token (the
 * client_notification_token), so retries of earlier requests keep their own fault; it counts attempts.
 */
async function startFaultyEndpoint(ca: { certPem: string; keyPem: string }) {
  const faults = new Map<string, Fault>();
  const attempts = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = https.createServer({ cert: ca.certPem, key: ca.keyPem }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      attempts.set(bearer, (attempts.get(bearer) ?? 0) + 1);
      const mode = faults.get(bearer) ?? 'hang';
      switch (mode) {
        case 'hang':
          return;
        case 'drip': {
          res.writeHead(200, { 'content-type': 'application/json' });
          const timer = setInterval(() => res.write(' '), 100);
          timers.add(timer);
          res.on('close', () => clearInterval(timer));
          return;
        }
        case 'reset':
          req.socket.destroy();
          return;
        case 'huge_ok':
        case 'huge_error': {
          // 64 MiB, written as fast as the issuer reads it: it must stop reading, not buffer it.
          res.writeHead(mode === 'huge_ok' ? 200 : 500, { 'content-type': 'text/plain' });
          const chunk = Buffer.alloc(1024 * 1024, 'x');
          let left = 64;
          const more = () => {
            while (left > 0) {
              left--;
              if (!res.write(chunk)) return void res.once('drain', more);
            }
            res.end();
          };
          res.on('error', () => undefined);
          more();
          return;
        }
        case 'huge_headers':
          for (let i = 0; i < 100; i++) res.setHeader(`x-filler-${i}`, 'v'.repeat(1000));
          res.writeHead(204).end();
          return;
      }
    });
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    faults,
    attempts,
    url: `https://localhost:${(server.address() as AddressInfo).port}/push`,
    close() {
      for (const timer of timers) clearInterval(timer);
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts an authentication request of `clientId` for Alice and approves it as her phone would. */
async function approvedRequest(
  ci: CibaIssuer,
  clientId: 'ciba-push' | 'ciba-ping',
  tag: string,
  bearer = notificationToken(),
) {
  const params = {
    scope: 'openid accounts',
    login_hint: ALICE.username,
    binding_message: tag,
    client_notification_token: bearer,
  };
  const started = performance.now();
  const r =
    clientId === 'ciba-push'
      ? await ci.backchannel(clientId, params)
      : await ci.backchannel(clientId, { request: await ci.requestObject(params, { clientId }) });
  const backchannelMs = performance.now() - started;
  if (r.status !== 200) throw new Error(`backchannel ${clientId}: ${outcome(r)}`);
  const authReqId = r.json.auth_req_id as string;
  const runtime = ci.issuer.runtime;
  const alice = (await endUsersOf(runtime).findByUsername(ALICE.username))!;
  const service = cibaOf(runtime);
  const pending = (await service.pendingFor(alice.sub)).find((p) => p.bindingMessage === tag);
  if (pending === undefined) throw new Error(`no pending request ${tag}`);
  const decided = await service.decide(alice.sub, pending.handle, 'approve', Math.floor(Date.now() / 1000));
  if (decided !== 'approved') throw new Error(`decision ${decided}`);
  return { authReqId, backchannelMs };
}

t.test('a broken push endpoint: bounded attempts, counted, retried, other clients served', async (t) => {
  const pki = await testPki();
  const endpoint = await startFaultyEndpoint(pki.server);
  t.teardown(() => endpoint.close());
  const ci = await startCibaIssuer({
    pushUrl: endpoint.url,
    options: {
      ciba: {
        notificationBaseDelayMs: 50,
        notificationAttemptTimeoutMs: 1000,
        notificationCa: pki.ca.certPem,
      },
    },
  });
  t.teardown(() => ci.close());
  const notifications = async (mode: string, result: string) =>
    metricValue(
      (await fetchText(ci.issuer.adminPort!, '/metrics')).body,
      'fapi_issuer_ciba_notifications_total',
      {
        mode,
        result,
      },
    ) ?? 0;

  const cases: [Fault, 'failed' | 'delivered'][] = [
    ['hang', 'failed'],
    // The endpoint said 2xx: the notification was received; the dripping rest is not waited for.
    ['drip', 'delivered'],
    ['reset', 'failed'],
    ['huge_error', 'failed'],
    ['huge_headers', 'failed'],
    ['huge_ok', 'delivered'],
  ];
  for (const [mode, result] of cases) {
    await t.test(mode, async (t) => {
      const bearer = notificationToken();
      endpoint.faults.set(bearer, mode);
      const attempts = () => endpoint.attempts.get(bearer) ?? 0;
      const failedBefore = await notifications('push', 'failed');
      const deliveredBefore = await notifications('push', 'delivered');
      const started = performance.now();
      await approvedRequest(ci, 'ciba-push', `PUSH-${mode}`, bearer);

      // While the push endpoint is broken, another client's ping arrives and the backchannel answers.
      const pingsBefore = ci.ping.received.length;
      const ping = await approvedRequest(ci, 'ciba-ping', `PING-${mode}`);
      await ci.ping.waitFor(pingsBefore + 1, 5000);
      const otherMs = performance.now() - started;
      t.ok(otherMs < 5000, `the ping client is notified meanwhile (${Math.round(otherMs)} ms)`);
      t.ok(
        ping.backchannelMs < 3000,
        `the backchannel endpoint answers (${Math.round(ping.backchannelMs)} ms)`,
      );

      if (result === 'failed') {
        await waitUntil(
          'a failed attempt counted',
          async () => (await notifications('push', 'failed')) > failedBefore,
        );
        await waitUntil('a retry', () => Promise.resolve(attempts() >= 2));
        t.pass('the failed attempt is counted and retried');
        t.equal(await notifications('push', 'delivered'), deliveredBefore, 'never counted as delivered');
      } else {
        await waitUntil(
          'the delivery counted',
          async () => (await notifications('push', 'delivered')) > deliveredBefore,
        );
        t.equal(attempts(), 1, 'one attempt: the answer was not read to its end');
      }
      const elapsed = performance.now() - started;
      t.ok(elapsed < 15_000, `settled within the bound (${Math.round(elapsed)} ms)`);
    });
  }
  // The faulty deliveries are still being retried; closing the issuer abandons them (teardown).
});
