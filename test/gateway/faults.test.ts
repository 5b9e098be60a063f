/**
 * Fault injection: the gateway's dependencies misbehaving. Each case asserts that the gateway fails
 * closed (nothing is forwarded on a token it could not verify), that the fault is counted in a metric,
 * and that other clients are still served within a generous bound while the fault lasts.
 *
 * Every fault case of the gateway, and where it lives:
 *
 * | dependency    | fault                                    | test                                         |
 * |---------------|------------------------------------------|----------------------------------------------|
 * | JWKS          | hangs, drips, huge, invalid JSON, HTML,  | here: "JWKS faults while keys are cached"    |
 * |               | HTTP 500, connection reset               |                                              |
 * | JWKS          | drips forever (fetch deadline)           | jwks-deadline.test.ts                        |
 * | JWKS          | down (503) / empty / invalid, cached     | jwks.test.ts                                 |
 * | JWKS          | never loaded: 503 fail closed, /readyz   | jwks.test.ts                                 |
 * | upstream      | refused connection: 502                  | upstream-errors.test.ts                      |
 * | upstream      | slow: 504 at upstream.timeoutMs          | upstream-errors.test.ts                      |
 * | upstream      | slow endpoint saturating the pool        | forwarding-edges.test.ts (queue deadline)    |
 * | upstream      | 103 Early Hints, status >= 600,          | forwarding-edges.test.ts                     |
 * |               | Connection-named headers                 |                                              |
 * | upstream      | reset before / in the middle of an       | here: "upstream faults"                      |
 * |               | answer, huge headers, 102 Processing,    |                                              |
 * |               | hangs while other routes are served      |                                              |
 * | introspection | hang, drip, reset, HTTP 500, not JSON,   | introspection-client.test.ts (verifier),     |
 * |               | no boolean active, huge                  | introspection.test.ts (through the gateway)  |
 * | introspection | connection refused                       | introspection.test.ts                        |
 * | DPoP replay   | Redis down / full: 503 fail closed       | dpop-redis-replay.test.ts                    |
 * | CIBA notify   | see test/issuer/faults.test.ts           |                                              |
 */
import t from 'tap';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import { testPki } from '../helpers/pki.js';
import { createSigningKey, mintAccessToken } from '../helpers/tokens.js';

type JwksFault = 'ok' | 'hang' | 'drip' | 'huge' | 'invalid_json' | 'html' | 'status_500' | 'reset';

/** A JWKS endpoint whose next answers follow `mode`. */
async function startFaultyJwks() {
  const pki = await testPki();
  const state = { mode: 'ok' as JwksFault, keys: [] as JWK[] };
  const timers = new Set<NodeJS.Timeout>();
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const json = JSON.stringify({ keys: state.keys });
    switch (state.mode) {
      case 'ok':
        res.writeHead(200, { 'content-type': 'application/json' }).end(json);
        return;
      case 'hang':
        return; // never answers
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => res.write(' '), 100);
        timers.add(timer);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'huge':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(json.slice(0, -1) + `,"padding":"${'x'.repeat(2 * 1024 * 1024)}"}`);
        return;
      case 'invalid_json':
        res.writeHead(200, { 'content-type': 'application/json' }).end(json.slice(0, -3));
        return;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Sign in</body></html>');
        return;
      case 'status_500':
        res.writeHead(500, { 'content-type': 'application/json' }).end(json);
        return;
      case 'reset':
        req.socket.destroy();
        return;
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    pki,
    state,
    url: `https://localhost:${(server.address() as AddressInfo).port}/jwks`,
    close() {
      for (const timer of timers) clearInterval(timer);
      server.closeAllConnections();
      server.close();
    },
  };
}

t.test('JWKS faults while keys are cached', async (t) => {
  const jwks = await startFaultyJwks();
  t.teardown(() => jwks.close());
  const f = await startGatewayFixture(
    t,
    { tokens: { jwksUri: jwks.url, jwksCa: jwks.pki.ca.certFile, jwksCooldownSeconds: 0 } },
    { waitForReady: false },
  );
  jwks.state.keys = [f.key.publicJwk];
  await f.gateway.whenReady();
  const known = await f.token();
  // Signed by a key the issuer has not published (yet): its verification needs a JWKS fetch.
  const rotated = await createSigningKey('PS256');
  const unknown = await mintAccessToken(rotated, { thumbprint: f.pki.clientA.thumbprint });
  const failures = () => f.metric('fapi_gateway_jwks_fetches_total', { result: 'failure' });

  for (const mode of ['hang', 'drip', 'huge', 'invalid_json', 'html', 'status_500', 'reset'] as const) {
    await t.test(mode, async (t) => {
      jwks.state.mode = mode;
      const before = await failures();
      const refused = f.request({ token: unknown });
      // While the fetch is failing (up to its 5 s deadline), a client whose key is cached is served.
      const started = performance.now();
      const other = await f.request({ token: known });
      const ms = performance.now() - started;
      t.equal(other.status, 200, 'another client is served during the fault');
      t.ok(ms < 4000, `within the bound (${Math.round(ms)} ms)`);
      f.upstream.reset();
      await expectRejection(t, f, await refused, {
        status: 401,
        error: 'invalid_token',
        reason: 'token_key_unknown',
      });
      t.ok((await failures()) > before, 'the failed fetch is counted');
      t.equal(await f.metric('fapi_gateway_jwks_keys'), 1, 'the cached key set is kept');
    });
  }
  await t.test('recovery: the rotated key is fetched and its token forwarded', async (t) => {
    jwks.state.mode = 'ok';
    jwks.state.keys = [f.key.publicJwk, rotated.publicJwk];
    const res = await f.request({ token: unknown });
    t.equal(res.status, 200, res.body);
    t.equal(f.upstream.hits, 1);
    t.equal(await f.metric('fapi_gateway_jwks_keys'), 2);
  });
  t.notOk(f.logText().includes(unknown.split('.')[2]!), 'no token in the logs');
});

/**
 * An upstream that answers by the last path segment with raw bytes or a socket action: what a broken
 * back end does, which no HTTP library would write.
 */
async function startFaultyUpstream() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      if (!buffered.includes('\r\n\r\n')) return;
      const path = /^[A-Z]+ (\S+)/.exec(buffered)?.[1] ?? '';
      buffered = '';
      switch (path.split('/').pop()) {
        case 'ok':
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
          return;
        case 'reset-before-headers':
          socket.resetAndDestroy();
          return;
        case 'reset-mid-body':
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\npartial');
          setTimeout(() => socket.resetAndDestroy(), 50);
          return;
        case 'huge-headers':
          socket.write(
            'HTTP/1.1 200 OK\r\n' +
              Array.from({ length: 200 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(500)}\r\n`).join('') +
              'Content-Length: 2\r\n\r\nok',
          );
          return;
        case 'processing':
          socket.write('HTTP/1.1 102 Processing\r\n\r\n');
          setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone'), 50);
          return;
        case 'hang':
          return;
        default:
          socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

t.test('upstream faults', async (t) => {
  const upstream = await startFaultyUpstream();
  t.teardown(() => upstream.close());
  const f = await startGatewayFixture(t, { upstream: { url: upstream.url, timeoutMs: 3000 } });
  const token = await f.token();
  const errors = (kind: string) => f.metric('fapi_gateway_upstream_errors_total', { kind });

  await t.test('reset before the answer: 502 bad_gateway JSON, counted as reset', async (t) => {
    const res = await f.request({ path: '/accounts/reset-before-headers', token });
    t.equal(res.status, 502);
    t.equal(res.json().error, 'bad_gateway');
    t.equal(res.headers['cache-control'], 'no-store');
    t.ok(res.headers['x-fapi-interaction-id']);
    t.equal(await errors('reset'), 1);
  });
  await t.test('reset in the middle of the body: the client connection is ended, counted', async (t) => {
    const outcome = await f.request({ path: '/accounts/reset-mid-body', token }).then(
      (res) => `answered ${res.status} with ${res.body.length} bytes`,
      (err: Error) => `failed: ${err.message}`,
    );
    t.notMatch(outcome, /with 1000 bytes/, `the client never sees a complete answer (${outcome})`);
    t.equal(await errors('reset'), 2, 'counted as a reset');
  });
  await t.test('headers larger than the parser allows: 502, counted as invalid', async (t) => {
    const res = await f.request({ path: '/accounts/huge-headers', token });
    t.equal(res.status, 502);
    t.equal(res.json().error, 'bad_gateway');
    t.equal(res.headers['x-filler-0'], undefined, 'nothing of the answer leaks');
    const counted = (await errors('invalid_response')) + (await errors('other'));
    t.equal(counted, 1, 'counted once');
  });
  await t.test('102 Processing, then 200: the client gets the 200', async (t) => {
    const res = await f.request({ path: '/accounts/processing', token });
    t.equal(res.status, 200);
    t.equal(res.body, 'done');
  });
  await t.test(
    'one endpoint hangs: other requests are served meanwhile, the hung one is a 504',
    async (t) => {
      const hung = f.request({ path: '/accounts/hang', token });
      const started = performance.now();
      const others = await Promise.all([1, 2, 3].map(() => f.request({ path: '/accounts/ok', token })));
      const ms = performance.now() - started;
      t.same(
        others.map((r) => r.status),
        [200, 200, 200],
      );
      t.ok(ms < 2500, `served within the bound, before the hung one ends (${Math.round(ms)} ms)`);
      const res = await hung;
      t.equal(res.status, 504);
      t.equal(res.json().error, 'gateway_timeout');
      t.equal(await errors('timeout'), 1);
    },
  );
});
