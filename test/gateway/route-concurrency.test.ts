/**
 * Per-route concurrency limits: a route whose upstream stops answering holds at most its own number of
 * upstream slots; requests over that number are refused at once (503, Retry-After, counted, never
 * forwarded) and every other route is still served. The slots come back on every path: the answer, an
 * upstream failure, a timeout and a client that goes away.
 */
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { loadConfig } from '../../src/config/load.js';
import { Forwarder, type ForwardResult } from '../../src/gateway/forwarder.js';
import type { RequestContext } from '../../src/gateway/request-context.js';
import { routeConcurrencyLimit } from '../../src/gateway/route-concurrency.js';
import { UUID_PATTERN, headerLines } from '../helpers/gateway-assertions.js';
import { startGatewayFixture, testGatewayConfigInput, type GatewayFixture } from '../helpers/gateway.js';
import { testPki } from '../helpers/pki.js';

/**
 * An upstream whose `/slow` answers wait until the test releases them, `/slow/reset` drops the
 * connection, and everything else is answered at once. Counts what reached it, per path.
 */
async function startHoldingUpstream(t: Test) {
  const held: http.ServerResponse[] = [];
  const hits = new Map<string, number>();
  let closedByPeer = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    const key = url.startsWith('/slow') ? '/slow' : url;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    if (url === '/slow/reset') {
      req.socket.destroy();
      return;
    }
    if (url.startsWith('/slow')) {
      held.push(res);
      res.on('close', () => {
        if (!res.writableFinished) closedByPeer++;
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"fast":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: (p: string) => hits.get(p) ?? 0,
    held: () => held.filter((r) => !r.writableEnded && !r.destroyed).length,
    closedByPeer: () => closedByPeer,
    releaseAll() {
      for (const r of held.splice(0)) if (!r.writableEnded && !r.destroyed) r.end('{"slow":true}');
    },
  };
}

async function until(t: Test, what: string, cond: () => boolean | Promise<boolean>, ms = 15_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  t.fail(`timed out waiting for: ${what}`);
}

const ROUTES = [
  { path: '/slow', methods: ['GET'] },
  { path: '/accounts', methods: ['GET'] },
];

async function fixture(t: Test, upstream: { url: string }, extra: Record<string, unknown> = {}) {
  return startGatewayFixture(t, {
    upstream: { url: upstream.url, timeoutMs: 20_000, maxSockets: 4 },
    routes: ROUTES,
    ...extra,
  });
}

const inFlight = (f: GatewayFixture, route: string) =>
  f.metric('fapi_gateway_route_in_flight_requests', { route });

/** A request that the test can abandon (the client closes its connection) once the upstream has it. */
function abandonableRequest(f: GatewayFixture, requestPath: string, token: string) {
  const req = https.request({
    host: '127.0.0.1',
    port: f.gateway.listenPort,
    servername: 'localhost',
    path: requestPath,
    headers: { authorization: `Bearer ${token}` },
    ca: f.pki.ca.certPem,
    cert: f.pki.clientA.certPem,
    key: f.pki.clientA.keyPem,
    agent: false,
  });
  req.on('error', () => {});
  req.end();
  return () => req.destroy();
}

t.test('a route whose upstream hangs cannot starve the other routes', async (t) => {
  const upstream = await startHoldingUpstream(t);
  // Pool of 4: by default no route may hold more than half of it.
  const f = await fixture(t, upstream);
  const token = await f.token();
  const slow = Array.from({ length: 8 }, () => f.request({ path: '/slow', token }));
  await until(t, 'two slow requests reach the upstream', () => upstream.held() === 2);
  // The six others were refused at once, while the two are still held.
  let refused = 0;
  for (const p of slow.slice(2)) {
    const r = await Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000))]);
    if (r?.status === 503) refused++;
  }
  t.equal(refused, 6, 'requests over the limit answered 503 while the route is saturated');
  // Two at a time: /accounts has its own limit of two.
  const answers = [];
  for (let i = 0; i < 5; i++)
    answers.push(
      ...(await Promise.all([
        f.request({ path: '/accounts/1', token }),
        f.request({ path: '/accounts/1', token }),
      ])),
    );
  t.same(
    answers.map((a) => a.status),
    Array(10).fill(200),
    'the other route is answered while the slow one holds its slots',
  );
  t.equal(upstream.held(), 2, 'the slow requests were still held when the fast ones were answered');
  t.equal(upstream.hits('/slow'), 2, 'requests over the limit never reached the upstream');
  t.equal(upstream.hits('/accounts/1'), 10);
  t.equal(await inFlight(f, '/slow'), 2, 'gauge: two in flight on /slow');
  upstream.releaseAll();
  const first = await Promise.all(slow.slice(0, 2));
  t.same(
    first.map((a) => a.status),
    [200, 200],
  );
  await until(t, 'the slots are released', async () => (await inFlight(f, '/slow')) === 0);
});

t.test(
  'a request over the limit: 503, Retry-After, JSON error, interaction id, counted, logged',
  async (t) => {
    const upstream = await startHoldingUpstream(t);
    const f = await fixture(t, upstream, {
      routes: [{ path: '/slow', methods: ['GET'], maxConcurrent: 1 }, ROUTES[1]],
    });
    const token = await f.token();
    const first = f.request({ path: '/slow/1', token });
    await until(t, 'the first request reaches the upstream', () => upstream.held() === 1);
    const over = await f.request({ path: '/slow/2', token });
    t.equal(over.status, 503);
    t.equal(over.headers['retry-after'], '5', 'Retry-After (RFC 9110 §10.2.3)');
    t.equal(over.headers['cache-control'], 'no-store');
    t.match(over.headers['content-type'], /^application\/json/);
    t.match(over.headers['x-fapi-interaction-id'], UUID_PATTERN);
    t.same(headerLines(over, 'www-authenticate'), [], 'no challenge: the credentials were fine');
    t.equal(over.json().error, 'temporarily_unavailable');
    t.match(over.json().error_description, /concurrent/);
    t.equal(upstream.hits('/slow'), 1, 'the refused request was never forwarded');
    t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'route_concurrency_limit' }), 1);
    t.equal(
      await f.metric('fapi_gateway_requests_total', { route: '/slow', outcome: 'rejected' }),
      1,
      'counted against its route',
    );
    const line = f.logs.find((l) => l.reason === 'route_concurrency_limit');
    t.match(line, {
      route: '/slow',
      status: 503,
      outcome: 'rejected',
      interactionId: over.headers['x-fapi-interaction-id'],
    });
    upstream.releaseAll();
    t.equal((await first).status, 200);
    await until(t, 'the slot is released', async () => (await inFlight(f, '/slow')) === 0);
    upstream.releaseAll();
    const again = f.request({ path: '/slow/3', token });
    await until(t, 'a new request passes once the slot is free', () => upstream.held() === 1);
    upstream.releaseAll();
    t.equal((await again).status, 200);
  },
);

t.test('slots come back when clients go away, whether forwarded or still queued', async (t) => {
  const upstream = await startHoldingUpstream(t);
  // Pool of 2 shared by /slow (2) and /accounts (2): /accounts requests queue in the pool behind /slow.
  const f = await fixture(t, upstream, {
    upstream: { url: upstream.url, timeoutMs: 20_000, maxSockets: 2 },
    routes: [
      { path: '/slow', methods: ['GET'], maxConcurrent: 2 },
      { path: '/accounts', methods: ['GET'], maxConcurrent: 2 },
    ],
  });
  const token = await f.token();
  for (let round = 0; round < 5; round++) {
    const aborts = [abandonableRequest(f, '/slow', token), abandonableRequest(f, '/slow', token)];
    await until(t, `round ${round}: both reach the upstream`, () => upstream.held() === 2);
    for (const abort of aborts) abort();
    await until(t, `round ${round}: the upstream sees both cancelled`, () => upstream.held() === 0);
    await until(t, `round ${round}: slots released`, async () => (await inFlight(f, '/slow')) === 0);
  }
  t.equal(upstream.closedByPeer(), 10, 'each abandoned request was cancelled upstream too');
  // Now hold the pool and abandon /accounts requests while they wait for a connection.
  const holders = [f.request({ path: '/slow', token }), f.request({ path: '/slow', token })];
  await until(t, 'the pool is held', () => upstream.held() === 2);
  for (let round = 0; round < 5; round++) {
    const aborts = [abandonableRequest(f, '/accounts/q', token), abandonableRequest(f, '/accounts/q', token)];
    await until(
      t,
      `queued round ${round}: both in flight`,
      async () => (await inFlight(f, '/accounts')) === 2,
    );
    for (const abort of aborts) abort();
    await until(t, `queued round ${round}: released`, async () => (await inFlight(f, '/accounts')) === 0);
  }
  upstream.releaseAll();
  t.same(
    (await Promise.all(holders)).map((r) => r.status),
    [200, 200],
  );
  t.equal(upstream.hits('/accounts/q'), 0, 'abandoned queued requests never reached the upstream');
  const after = await Promise.all([1, 2].map(() => f.request({ path: '/accounts/ok', token })));
  t.same(
    after.map((r) => r.status),
    [200, 200],
    'the limit did not leak',
  );
  t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'route_concurrency_limit' }), 0);
});

t.test('slots come back after upstream failures and timeouts', async (t) => {
  const upstream = await startHoldingUpstream(t);
  const f = await fixture(t, upstream, {
    upstream: { url: upstream.url, timeoutMs: 400, maxSockets: 4 },
    routes: [{ path: '/slow', methods: ['GET'], maxConcurrent: 2 }, ROUTES[1]],
  });
  const token = await f.token();
  for (let i = 0; i < 5; i++) {
    const r = await f.request({ path: '/slow/reset', token });
    t.equal(r.status, 502, 'upstream reset -> 502');
  }
  for (let i = 0; i < 3; i++) {
    const r = await Promise.all([
      f.request({ path: '/slow/t', token }),
      f.request({ path: '/slow/t', token }),
    ]);
    t.same(
      r.map((x) => x.status),
      [504, 504],
      'upstream timeout -> 504',
    );
  }
  t.equal(await inFlight(f, '/slow'), 0);
  t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'route_concurrency_limit' }), 0);
  upstream.releaseAll();
});

t.test('limits: defaults from the pool, configuration errors name the key', async (t) => {
  const pki = await testPki();
  const parse = (upstream: Record<string, unknown>, routes: unknown[]) =>
    gatewayConfigSchema.parse(
      testGatewayConfigInput(pki, 'https://127.0.0.1:1/jwks', 'http://127.0.0.1:1', {
        upstream: { url: 'http://127.0.0.1:1', ...upstream },
        routes,
      }),
    );
  const c = parse({}, [{ path: '/a' }, { path: '/b', maxConcurrent: 7 }, { path: '/c', maxConcurrent: 0 }]);
  t.equal(routeConcurrencyLimit(c.routes[0]!, c.upstream), 512, 'default: half of the default pool of 1,024');
  t.equal(routeConcurrencyLimit(c.routes[1]!, c.upstream), 7);
  t.equal(routeConcurrencyLimit(c.routes[2]!, c.upstream), 0, '0: no limit');
  const small = parse({ maxSockets: 1 }, [{ path: '/a' }]);
  t.equal(routeConcurrencyLimit(small.routes[0]!, small.upstream), 1, 'never below one');
  const odd = parse({ maxSockets: 5 }, [{ path: '/a' }]);
  t.equal(routeConcurrencyLimit(odd.routes[0]!, odd.upstream), 3);

  const file = path.join(pki.dir, 'concurrency.json');
  const load = (routes: unknown[], upstream: Record<string, unknown> = {}) => {
    writeFileSync(
      file,
      JSON.stringify(
        testGatewayConfigInput(pki, 'https://127.0.0.1:1/jwks', 'http://127.0.0.1:1', {
          upstream: { url: 'http://127.0.0.1:1', ...upstream },
          routes,
        }),
      ),
    );
    const r = loadConfig(file, gatewayConfigSchema, { envPrefix: 'FAPI_GATEWAY_', env: {} });
    return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
  };
  t.same(load([{ path: '/a', maxConcurrent: 2 }]), []);
  t.match(load([{ path: '/a' }, { path: '/b', maxConcurrent: -1 }]), [/^routes\[1\]\.maxConcurrent: /]);
  t.match(load([{ path: '/a', maxConcurrent: 'lots' }]), [/^routes\[0\]\.maxConcurrent: .*number/]);
  t.match(load([{ path: '/a', maxConcurrent: 2.5 }]), [/^routes\[0\]\.maxConcurrent: /]);
  t.match(load([{ path: '/a' }, { path: '/b', maxConcurrent: 9 }], { maxSockets: 8 }), [
    /^routes\[1\]\.maxConcurrent: 9 .*upstream\.maxSockets \(8\)/,
  ]);
});

t.test('a request whose client left while its checks ran is settled without being forwarded', async (t) => {
  const upstream = await startHoldingUpstream(t);
  const forwarder = new Forwarder({
    url: upstream.url,
    timeoutMs: 1000,
    maxSockets: 1,
    forwardHeaders: { clientId: 'x-c', subject: 'x-s', scope: 'x-sc' },
  });
  t.teardown(() => forwarder.close());
  // The client closed its connection during an asynchronous check: Node has destroyed the response.
  const ctx = { req: { headers: {}, rawHeaders: [] }, res: { destroyed: true } } as unknown as RequestContext;
  const results: ForwardResult[] = [];
  forwarder.forward(ctx, (r) => results.push(r));
  t.same(results, [{ kind: 'aborted', status: 499 }], 'settled at once (the slot is released)');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(upstream.hits('/accounts'), 0);
  t.equal(upstream.held(), 0, 'nothing reached the upstream');
});
