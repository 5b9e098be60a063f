// The C load driver of the one-form-per-request issuer scenarios: built as the bench builds it, it must send
// every form exactly once, over mutual TLS, spread over the replicas' ports, and count answers as the
// JavaScript driver does; a driver that lost or repeated forms would measure refusals or replays.
import 'reflect-metadata';
import t, { type Test } from 'tap';
import type http from 'node:http';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createBenchPki } from '../../bench/pki.js';
import { buildFormDriver } from '../../bench/native.js';
import { runLoad } from '../../bench/load.js';

const root = path.resolve(import.meta.dirname, '..', '..');

type Pki = Awaited<ReturnType<typeof createBenchPki>>;

/** An HTTPS server on loopback that requires a client certificate of the bench PKI. */
async function mtlsServer(t: Test, pki: Pki, handler: http.RequestListener): Promise<https.Server> {
  const server = https.createServer(
    {
      cert: readFileSync(pki.files.serverCert),
      key: readFileSync(pki.files.serverKey),
      ca: readFileSync(pki.files.caCert),
      requestCert: true,
      rejectUnauthorized: true,
    },
    handler,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return server;
}

t.test('sends each form once over mTLS, round-robin over the ports, and counts the answers', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'form-driver-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const built = buildFormDriver(root, dir);
  t.ok(built.binary, `the driver builds (${built.reason ?? 'ok'})`);
  if (!built.binary) return;
  const pki = await createBenchPki();
  t.teardown(() => rmSync(pki.files.dir, { recursive: true, force: true }));

  const received: { server: number; form: string; client: string | undefined }[] = [];
  const servers = await Promise.all(
    [0, 1].map((index) =>
      mtlsServer(t, pki, (req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          const peer = (req.socket as TLSSocket).getPeerCertificate();
          received.push({ server: index, form: body, client: peer.subject?.CN as string | undefined });
          const out = JSON.stringify({ access_token: 'x'.repeat(600), form: body });
          res.writeHead(body.includes('refuse') ? 400 : 200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(out),
          });
          res.end(out);
        });
      }),
    ),
  );
  const urls = servers.map((s) => `https://127.0.0.1:${(s.address() as AddressInfo).port}/as/token`);
  const forms = Array.from({ length: 40 }, (_, i) =>
    i === 7 ? 'grant_type=client_credentials&refuse=1' : `grant_type=client_credentials&jti=${i}`,
  );
  const formsFile = path.join(dir, 'forms.json');
  writeFileSync(formsFile, JSON.stringify(forms));

  const result = await runLoad({
    url: urls[0]!,
    urls,
    connections: 4,
    durationSeconds: 10,
    settleSeconds: 0,
    maxRequests: forms.length,
    formsFile,
    formDriver: built.binary,
    tls: { cert: pki.files.clientCert, key: pki.files.clientKey },
  });
  t.equal(result.requests, forms.length, 'every form answered');
  t.equal(result.non2xx, 1, 'the refused form counted as non-2xx');
  t.equal(result.errors, 0);
  t.equal(result.timeouts, 0);
  t.ok(result.latencyMs.p50 > 0 && result.latencyMs.max >= result.latencyMs.p99, 'latencies measured');
  t.same(
    received.map((r) => r.form).sort(),
    [...forms].sort(),
    'each form sent exactly once, none repeated or lost',
  );
  t.ok(
    received.every((r) => r.client !== undefined),
    'every request came with the client certificate',
  );
  t.same(
    new Set(received.map((r) => r.server)),
    new Set([0, 1]),
    'the connections are spread over both ports',
  );
  t.ok(
    servers.every((s) => s.listening),
    'servers still up',
  );
});

t.test('stops at the end of its duration when forms remain, with the answers it got', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'form-driver-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const built = buildFormDriver(root, dir);
  if (!built.binary) return t.fail(built.reason ?? 'the driver did not build');
  const pki = await createBenchPki();
  t.teardown(() => rmSync(pki.files.dir, { recursive: true, force: true }));
  let hits = 0;
  const server = await mtlsServer(t, pki, (req, res) => {
    req.resume();
    req.on('end', () => {
      hits++;
      // A slow token endpoint: about 20 answers per second per connection.
      setTimeout(() => res.writeHead(200, { 'content-length': 2 }).end('{}'), 50);
    });
  });
  const formsFile = path.join(dir, 'forms.json');
  writeFileSync(formsFile, JSON.stringify(Array.from({ length: 10_000 }, (_, i) => `jti=${i}`)));
  const started = Date.now();
  const result = await runLoad({
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/as/token`,
    connections: 2,
    durationSeconds: 1,
    settleSeconds: 0,
    maxRequests: 10_000,
    formsFile,
    formDriver: built.binary,
    tls: { cert: pki.files.clientCert, key: pki.files.clientKey },
  });
  t.ok(Date.now() - started < 20_000, 'ended after its duration, not after every form');
  t.ok(result.requests > 5 && result.requests < 200, `answers within the duration (${result.requests})`);
  t.equal(result.requests, hits, 'every request sent was answered and counted');
  t.equal(result.errors, 0);
});
