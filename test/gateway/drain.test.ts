import t from 'tap';
import https from 'node:https';
import tls from 'node:tls';
import { startGatewayFixture } from '../helpers/gateway.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { until } from '../helpers/until.js';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { InFlight } from '../../src/gateway/drain.js';

t.test(
  'an answer started after stopping began carries Connection: close, whenever its request arrived',
  async (t) => {
    const f = await startGatewayFixture(t);
    const agent = new https.Agent({ keepAlive: true });
    t.teardown(() => agent.destroy());
    const token = await f.token();
    const answer = mtlsRequest({
      port: f.gateway.listenPort,
      caPem: f.pki.ca.certPem,
      client: f.pki.clientA,
      path: '/accounts',
      agent,
      // The upstream holds the answer until well after the gateway starts stopping.
      headers: { authorization: `Bearer ${token}`, 'x-echo-delay-ms': '2000' },
    });
    await until('the request reached the upstream', () => f.upstream.hits === 1);
    const closed = f.gateway.close();
    const r = await answer;
    t.equal(r.status, 200, 'the request received before stopping is answered');
    t.equal(r.headers.connection, 'close', 'and the client is told to close its keep-alive connection');
    await closed;
  },
);

t.test(
  'stopping tells exactly the unfinished answers to close, whatever order earlier ones finished in',
  (t) => {
    const inFlight = new InFlight();
    const answer = (name: string) =>
      Object.assign(new EventEmitter(), { name, headersSent: false, shouldKeepAlive: true, socket: null });
    const all = ['oldest', 'middle', 'third', 'newest', 'headers-sent'].map(answer);
    for (const res of all) inFlight.begin(res as unknown as ServerResponse);
    const [oldest, middle, third, newest, headersSent] = all;
    headersSent!.headersSent = true;
    // Finished: one from the middle of the list, the newest, then the oldest.
    for (const res of [middle!, newest!, oldest!]) res.emit('close');
    const late = answer('late');
    inFlight.begin(late as unknown as ServerResponse);
    inFlight.closeConnections();
    const closing = [...all, late].filter((r) => !r.shouldKeepAlive).map((r) => r.name);
    t.same(closing, ['third', 'late'], 'the unfinished answers without headers, and only those');
    // Answers finishing after the list was emptied, and answers begun while stopping, change nothing else.
    third!.emit('close');
    late.emit('close');
    headersSent!.emit('close');
    const during = answer('during');
    inFlight.begin(during as unknown as ServerResponse);
    t.equal(during.shouldKeepAlive, false, 'an answer begun while stopping is told to close at once');
    during.emit('close');
    for (let i = 0; i < all.length + 2; i++) inFlight.end();
    t.equal(inFlight.size, 0);
    t.end();
  },
);

/** A TLS connection to the gateway as client A that has sent nothing yet. */
async function openConnection(port: number, f: Awaited<ReturnType<typeof startGatewayFixture>>) {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: f.pki.ca.certPem,
    cert: f.pki.clientA.certPem,
    key: f.pki.clientA.keyPem,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => received, ended };
}

t.test('a connection opened before the drain and not used yet gets its first request answered', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const c = await openConnection(f.gateway.listenPort, f);
  // The gateway has accepted it (its checks ran) before stopping starts.
  await until(
    'the connection is open at the gateway',
    async () => (await f.metric('fapi_gateway_open_connections')) === 1,
  );
  const closed = f.gateway.close();
  await until('the drain started', () => f.logs.some((l) => l.event === 'draining'));
  c.socket.write(`GET /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  await c.ended;
  t.match(c.received(), /^HTTP\/1\.1 200 /, 'answered, not closed unanswered');
  t.match(c.received(), /\r\nconnection: close\r\n/i, 'with Connection: close');
  t.equal(f.upstream.hits, 1, 'forwarded');
  await closed;
});

t.test('an unused connection holds the drain at most shutdown.drainTimeoutMs', async (t) => {
  const f = await startGatewayFixture(t, { shutdown: { drainTimeoutMs: 1000, graceSeconds: 0 } });
  const c = await openConnection(f.gateway.listenPort, f);
  await until(
    'the connection is open at the gateway',
    async () => (await f.metric('fapi_gateway_open_connections')) === 1,
  );
  await f.gateway.close();
  await c.ended;
  t.equal(c.received(), '', 'closed without an answer once the drain timeout passed');
  t.ok(
    f.logs.some((l) => l.event === 'drain_timeout'),
    'the drain timeout is logged',
  );
});

t.test('idle keep-alive connections that carried answers are closed when the drain starts', async (t) => {
  const f = await startGatewayFixture(t);
  const agent = new https.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  const token = await f.token();
  const r = await mtlsRequest({
    port: f.gateway.listenPort,
    caPem: f.pki.ca.certPem,
    client: f.pki.clientA,
    path: '/accounts',
    agent,
    headers: { authorization: `Bearer ${token}` },
  });
  t.equal(r.headers.connection, 'keep-alive', 'kept alive before stopping');
  await f.gateway.close();
  t.notOk(
    f.logs.some((l) => l.event === 'drain_timeout'),
    'the drain did not wait for it until its timeout',
  );
});
