import t, { type Test } from 'tap';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { fetchText } from '../helpers/metrics-text.js';
import { startGatewayProcessFixture } from '../helpers/gateway-process.js';
import { mintAccessToken } from '../helpers/tokens.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { until } from '../helpers/until.js';

const CLIENTS = 100;

/**
 * `stop.group`: the signal goes to the gateway's whole process group (a terminal's Ctrl-C, `kill -- -PGID`,
 * systemd's default control-group kill), so each worker receives it too, besides the primary.
 */
async function underLoad(
  t: Test,
  workers: number,
  stop: { signal: NodeJS.Signals; group: boolean } = { signal: 'SIGTERM', group: false },
) {
  const f = await startGatewayProcessFixture(t, {
    fileName: 'graceful.yaml',
    launch: { detached: stop.group },
    // A loaded machine (100 clients, TLS handshakes, workers on two cores) must not turn into 504s.
    overrides: {
      workers,
      upstream: { timeoutMs: 60_000 },
      // Longer than the test's own steps (a /readyz round trip) take on a loaded machine.
      shutdown: { drainTimeoutMs: 60_000, graceSeconds: 8 },
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
  let notReadySeen = false;
  /** Answers to requests sent once /readyz had been seen failing: served during the grace period. */
  let answeredSentWhileNotReady = 0;
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
      const sentWhileNotReady = notReadySeen;
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
            if (sentWhileNotReady && res.statusCode === 200) answeredSentWhileNotReady++;
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
  if (stop.group) process.kill(-gw.child.pid!, stop.signal);
  else gw.child.kill(stop.signal);
  await gw.waitForLog((l) => l.event === 'shutdown_grace', 60_000);
  t.equal((await fetchText(gw.adminPort, '/readyz')).status, 503, '/readyz fails as soon as stopping starts');
  notReadySeen = true;

  const exit = await gw.exited;
  await Promise.all(clients);
  t.same(exit, { code: 0, signal: null }, 'the gateway exits 0');
  t.ok(
    gw.logs.some((l) => l.event === 'draining' && l.inFlight !== undefined),
    'the grace period ended in a drain',
  );
  t.equal(lost, 0, 'no request written on an open connection went unanswered');
  t.equal(notOk, 0, 'every answer was a 200');
  t.equal(refused, CLIENTS, 'every client ends with a refused connection (the listener closed)');
  t.ok(
    answeredSentWhileNotReady > 0,
    `requests sent while /readyz failed were served (${answeredSentWhileNotReady}): the grace period`,
  );
  t.ok(answeredAfterSigterm > 0, `${answeredAfterSigterm} answers after SIGTERM`);
  t.ok(closeAnswers > 0, `${closeAnswers} answers after SIGTERM carried Connection: close`);
}

t.test(
  'SIGTERM under load: /readyz fails first, keep-alive clients are told to close, no request is lost',
  (t) => underLoad(t, 1),
);

t.test(
  'SIGTERM under load with workers: every worker serves through the grace period, then drains; no request is lost',
  (t) => underLoad(t, 2),
);

t.test(
  'SIGINT to the whole process group under load with workers: the same, though each worker receives it too',
  (t) => underLoad(t, 2, { signal: 'SIGINT', group: true }),
);

t.test('a worker that dies while stopping: the other serves and drains, the exit status is 1', async (t) => {
  const f = await startGatewayProcessFixture(t, {
    fileName: 'worker-dies.yaml',
    // Long enough that the checks below run inside the grace period on a loaded machine.
    overrides: { workers: 2, shutdown: { drainTimeoutMs: 60_000, graceSeconds: 15 } },
  });
  const { pki, key, gateway: gw } = f;
  const token = await mintAccessToken(key, {
    thumbprint: pki.clientA.thumbprint,
    claims: { scope: 'accounts' },
  });
  gw.child.kill('SIGTERM');
  const graceLines = await until('both workers in their grace period', () => {
    const lines = gw.logs.filter((l) => l.event === 'shutdown_grace');
    return lines.length === 2 && lines;
  });
  const victim = Number(graceLines[0]!.pid);
  process.kill(victim, 'SIGKILL');
  const exitedLine = await gw.waitForLog((l) => l.event === 'worker_exited', 60_000);
  t.match(exitedLine, { workerPid: victim, signal: 'SIGKILL', stopping: true }, 'the primary logs the loss');
  t.equal((await fetchText(gw.adminPort, '/readyz')).status, 503, 'still not ready');
  const r = await mtlsRequest({
    port: gw.listenPort,
    caPem: pki.ca.certPem,
    client: pki.clientA,
    path: '/accounts',
    headers: { authorization: `Bearer ${token}` },
  });
  t.equal(r.status, 200, 'a new connection is served by the other worker');
  t.equal(r.headers.connection, 'close', 'with Connection: close');
  t.same(await gw.exited, { code: 1, signal: null }, 'the gateway exits 1 once the other worker drained');
  t.equal(
    gw.logs.filter((l) => l.event === 'stopped' && l.worker === true).length,
    1,
    'the other worker stopped normally',
  );
  t.equal(
    gw.logs.filter((l) => l.event === 'started' && l.worker === true).length,
    2,
    'no replacement worker was started',
  );
});
