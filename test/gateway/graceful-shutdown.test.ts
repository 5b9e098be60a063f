import t, { type Test } from 'tap';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { fetchText } from '../helpers/metrics-text.js';
import { startGatewayProcessFixture } from '../helpers/gateway-process.js';
import { mintAccessToken } from '../helpers/tokens.js';

const CLIENTS = 100;

async function underLoad(t: Test, workers: number) {
  const f = await startGatewayProcessFixture(t, {
    fileName: 'graceful.yaml',
    // A loaded machine (100 clients, TLS handshakes, workers on two cores) must not turn into 504s.
    overrides: {
      workers,
      upstream: { timeoutMs: 60_000 },
      shutdown: { drainTimeoutMs: 60_000, graceSeconds: 3 },
    },
  });
  const { pki, key, gateway: gw } = f;
  const token = await mintAccessToken(key, {
    thumbprint: pki.clientA.thumbprint,
    claims: { scope: 'accounts' },
  });
  const agent = new https.Agent({ keepAlive: true, maxSockets: CLIENTS });
  t.teardown(() => agent.destroy());

  let sigtermAt = 0;
  let answered = 0;
  let answeredAfterSigterm = 0;
  let closeAnswers = 0;
  let notOk = 0;
  /** Requests written on an established connection that never got an answer. */
  let lost = 0;
  /** Connections refused before a request was sent (the listener closed): a client retries elsewhere. */
  let refused = 0;

  /** One request; 'refused' when no connection could be made. */
  const send = () =>
    new Promise<'answered' | 'refused' | 'lost'>((resolve) => {
      let established = false;
      const req = https.get(
        {
          host: '127.0.0.1',
          port: gw.listenPort,
          servername: 'localhost',
          path: '/accounts',
          agent,
          ca: pki.ca.certPem,
          cert: pki.clientA.certPem,
          key: pki.clientA.keyPem,
          headers: { authorization: `Bearer ${token}` },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            answered++;
            if (res.statusCode !== 200) notOk++;
            if (sigtermAt > 0) {
              answeredAfterSigterm++;
              if (res.headers.connection === 'close') closeAnswers++;
            }
            resolve('answered');
          });
          res.on('error', () => resolve('lost'));
        },
      );
      req.on('socket', (socket) => {
        if (req.reusedSocket) established = true;
        else (socket as TLSSocket).once('secureConnect', () => (established = true));
      });
      req.on('error', () => resolve(established ? 'lost' : 'refused'));
    });

  const client = async () => {
    for (;;) {
      const outcome = await send();
      if (outcome === 'lost') lost++;
      if (outcome === 'refused') {
        refused++;
        return;
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, () => client());

  // Every client has been answered at least once (all keep-alive connections are open and busy).
  const deadline = Date.now() + 60_000;
  while (answered < CLIENTS * 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(answered >= CLIENTS * 3, `traffic flows (${answered} answers)`);

  sigtermAt = Date.now();
  gw.child.kill('SIGTERM');
  await gw.waitForLog((l) => l.event === 'shutdown_grace');
  t.equal((await fetchText(gw.adminPort, '/readyz')).status, 503, '/readyz fails as soon as stopping starts');
  const answeredAtNotReady = answered;
  // The drain of a gateway process (a worker's, with workers), which counts its in-flight requests.
  await gw.waitForLog((l) => l.event === 'draining' && l.inFlight !== undefined, 30_000);
  t.ok(answered > answeredAtNotReady, 'requests are still served while /readyz fails (grace period)');

  const exit = await gw.exited;
  await Promise.all(clients);
  t.same(exit, { code: 0, signal: null }, 'the gateway exits 0');
  t.equal(lost, 0, 'no request written on an open connection went unanswered');
  t.equal(notOk, 0, 'every answer was a 200');
  t.equal(refused, CLIENTS, 'every client ends with a refused connection (the listener closed)');
  t.ok(answeredAfterSigterm > 0, `${answeredAfterSigterm} answers after SIGTERM`);
  t.ok(closeAnswers > 0, `${closeAnswers} answers after SIGTERM carried Connection: close`);
}

t.test(
  'SIGTERM under load: /readyz fails first, keep-alive clients are told to close, no request is lost',
  (t) => underLoad(t, 1),
);
