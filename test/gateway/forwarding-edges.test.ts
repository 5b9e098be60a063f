import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startGatewayFixture } from '../helpers/gateway.js';
import { UUID_PATTERN } from '../helpers/gateway-assertions.js';

/**
 * An upstream that answers every request with the raw bytes chosen by its path (`/accounts/<name>`),
 * for answers a well-behaved HTTP server library would never write.
 */
async function startRawUpstream(answers: Record<string, string>): Promise<{ url: string; close(): void }> {
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const path = /^[A-Z]+ (\S+)/.exec(buffered)?.[1] ?? '';
      buffered = '';
      const name = path.split('/').pop() ?? '';
      socket.write(answers[name] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

t.test('answers from the upstream that must not reach the client as they are', async (t) => {
  const raw = await startRawUpstream({
    hints:
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
    weird: 'HTTP/1.1 699 Unheard Of\r\nContent-Length: 2\r\n\r\nok',
    hop:
      'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Upstream-Secret\r\nX-Upstream-Secret: internal\r\n' +
      'Proxy-Authenticate: Basic realm="legacy"\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok',
  });
  t.teardown(() => raw.close());
  const f = await startGatewayFixture(t, { upstream: { url: raw.url, timeoutMs: 5000 } });
  const token = await f.token();

  await t.test('103 Early Hints then 200: the client gets the 200 and its body', async (t) => {
    const res = await f.request({ path: '/accounts/hints', token });
    t.equal(res.status, 200);
    t.equal(res.body, 'hello');
    t.match(res.headers['x-fapi-interaction-id'], UUID_PATTERN);
  });
  await t.test('a status outside 100-599: 502, counted as an invalid upstream response', async (t) => {
    const res = await f.request({ path: '/accounts/weird', token });
    t.equal(res.status, 502);
    t.equal(res.json().error, 'bad_gateway');
    t.equal(res.headers['cache-control'], 'no-store');
    t.equal(await f.metric('fapi_gateway_upstream_errors_total', { kind: 'invalid_response' }), 1);
  });
  await t.test('headers the upstream named in Connection and Proxy-Authenticate are removed', async (t) => {
    const res = await f.request({ path: '/accounts/hop', token });
    t.equal(res.status, 200);
    t.equal(res.headers['x-upstream-secret'], undefined);
    t.equal(res.headers['proxy-authenticate'], undefined);
    t.equal(res.headers['x-kept'], 'yes');
  });
  await t.test('the gateway still serves after each of them', async (t) => {
    const res = await f.request({ path: '/accounts/hints', token });
    t.equal(res.status, 200);
  });
});

t.test('requests that must work: Expect: 100-continue', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const body = JSON.stringify({ amount: '10.00', note: 'x'.repeat(2048) });
  const res = await f.request({
    method: 'POST',
    path: '/accounts/1',
    token,
    body,
    headers: { 'content-type': 'application/json', expect: '100-continue' },
  });
  t.equal(res.status, 200, res.body);
  const seen = f.upstream.last()!;
  t.equal(seen.body, body, 'body forwarded whole');
  t.equal(seen.headers.expect, undefined, 'Expect is answered by the gateway, not forwarded');
});

t.test('headers a back end would trust are stripped, whatever their spelling', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const spoofed: Record<string, string> = {
    X_Authenticated_Client_Id: 'mallory',
    x_authenticated_subject: 'admin',
    'X-Authenticated_Scope': 'admin',
    SSL_CLIENT_CERT: 'forged',
    Client_Cert: ':Zm9yZ2Vk:',
    'X-Original-URL': '/admin',
    'X-Rewrite-URL': '/admin',
    'X-HTTP-Method-Override': 'DELETE',
    'X-Method-Override': 'DELETE',
    'True-Client-IP': '203.0.113.9',
    'X-Client-IP': '203.0.113.9',
    'CF-Connecting-IP': '203.0.113.9',
    'Fastly-Client-IP': '203.0.113.9',
    'X-Cluster-Client-IP': '203.0.113.9',
    'X-ARR-ClientCert': 'forged',
    'X-Amzn-Mtls-Clientcert': 'forged',
    'X-Client-Verify': 'SUCCESS',
    'X-Client-DN': 'CN=admin',
  };
  const res = await f.request({ token, headers: { ...spoofed, 'x-kept-by-gateway': '1' } });
  t.equal(res.status, 200);
  const seen = f.upstream.last()!;
  const names = new Set<string>();
  for (let i = 0; i < seen.rawHeaders.length; i += 2) names.add(seen.rawHeaders[i]!.toLowerCase());
  for (const name of Object.keys(spoofed)) t.notOk(names.has(name.toLowerCase()), `${name} stripped`);
  for (const name of names)
    t.notOk(name.includes('_'), `no underscore header reaches the upstream (${name})`);
  t.equal(seen.headers['x-kept-by-gateway'], '1', 'other headers pass');
  t.equal(seen.headers['x-authenticated-client-id'], 'client-a', "the gateway's own identity header");
});

t.test('the upstream deadline counts time spent queued behind a long answer', async (t) => {
  // The answer to /accounts/download starts at once and then streams for 2.5 s (a chunk every 250 ms,
  // well within the idle timeout), holding the
  // gateway's only upstream connection; everything else is answered at once.
  let hits = 0;
  const upstream = http.createServer((req, res) => {
    hits++;
    if (req.url === '/accounts/download') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let parts = 0;
      const tick = setInterval(() => {
        res.write(`part ${++parts}\n`);
        if (parts === 10) {
          clearInterval(tick);
          res.end();
        }
      }, 250);
    } else res.end('quick');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => upstream.close());
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  // No per-route limit (it would refuse the second request at once): the pool's own queue is under test.
  const f = await startGatewayFixture(t, {
    upstream: { url, timeoutMs: 1000, maxSockets: 1 },
    routes: [{ path: '/accounts', methods: ['GET'], scopes: ['accounts'], maxConcurrent: 0 }],
  });
  const token = await f.token();
  const download = f.request({ path: '/accounts/download', token });
  for (let i = 0; i < 200 && hits === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(hits, 1, 'the download holds the only upstream connection');
  const started = Date.now();
  const queued = await f.request({ path: '/accounts/1', token });
  t.equal(queued.status, 504, 'queued past its deadline: 504, not sent late');
  t.equal(queued.json().error, 'gateway_timeout');
  t.ok(Date.now() - started < 2300, 'answered at its own deadline, not after the download');
  const d = await download;
  t.equal(d.status, 200, 'the download itself completes');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(hits, 1, 'the expired request never reached the upstream');
  t.equal(await f.metric('fapi_gateway_upstream_errors_total', { kind: 'timeout' }), 1);
});
