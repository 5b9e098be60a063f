import t, { type Test } from 'tap';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { testPki } from '../../helpers/pki.js';
import { NotificationSender, type AttemptReport } from '../../../src/issuer/ciba/notification.js';

async function endpoint(t: Test, answers: number[]) {
  const pki = await testPki();
  const seen: { authorization?: string; body: string }[] = [];
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ authorization: req.headers.authorization, body });
      const status = answers[seen.length - 1] ?? 204;
      if (status === 302) res.setHeader('location', 'https://127.0.0.1:1/elsewhere');
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `https://localhost:${(server.address() as AddressInfo).port}/notify`;
  return { pki, seen, url };
}

t.test('a ping is retried with doubling delays until the endpoint accepts it', async (t) => {
  const { pki, seen, url } = await endpoint(t, [503, 500, 204]);
  const sender = new NotificationSender({ ca: pki.ca.certPem, baseDelayMs: 10 });
  t.teardown(() => sender.close());
  t.same(
    [1, 2, 3, 4].map((n) => sender.retryDelay(n)),
    [10, 20, 40, 80],
  );
  const reports: AttemptReport[] = [];
  const last = await sender.deliver(
    { mode: 'ping', url, bearer: 'tok-123', body: { auth_req_id: 'abc' }, deadline: Date.now() + 60_000 },
    (r) => void reports.push(r),
  );
  t.match(last, { attempt: 3, delivered: true, abandoned: false });
  t.match(reports, [
    { attempt: 1, delivered: false, error: /HTTP 503/ },
    { attempt: 2, delivered: false, error: /HTTP 500/ },
    { attempt: 3, delivered: true },
  ]);
  t.equal(seen.length, 3);
  for (const s of seen) {
    t.equal(s.authorization, 'Bearer tok-123');
    t.same(JSON.parse(s.body), { auth_req_id: 'abc' });
  }
});

t.test(
  'an unreachable endpoint is retried until expiry, then abandoned (reported, not silent)',
  async (t) => {
    const pki = await testPki();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    await new Promise<void>((r) => blocker.close(() => r()));
    const sender = new NotificationSender({ ca: pki.ca.certPem, baseDelayMs: 20 });
    t.teardown(() => sender.close());
    const reports: AttemptReport[] = [];
    const last = await sender.deliver(
      { mode: 'push', url: `https://127.0.0.1:${port}/n`, bearer: 'x', body: {}, deadline: Date.now() + 300 },
      (r) => void reports.push(r),
    );
    t.ok(reports.length >= 3, `retried (${reports.length} attempts)`);
    t.match(last, { delivered: false, abandoned: true, error: /unreachable/ });
    t.ok(reports.slice(0, -1).every((r) => !r.abandoned && !r.delivered));
  },
);

t.test('redirects are not followed and an untrusted server certificate is a failure', async (t) => {
  const { seen, url } = await endpoint(t, [302, 302, 302]);
  const untrusting = new NotificationSender({ baseDelayMs: 5 });
  t.teardown(() => untrusting.close());
  const tls = await untrusting.deliver(
    { mode: 'ping', url, bearer: 'x', body: {}, deadline: Date.now() + 1 },
    () => undefined,
  );
  t.match(tls, { delivered: false, abandoned: true, error: /unreachable/ });
  t.equal(seen.length, 0, 'nothing reached the endpoint without trusting its certificate');
  const pki = await testPki();
  const sender = new NotificationSender({ ca: pki.ca.certPem, baseDelayMs: 5 });
  t.teardown(() => sender.close());
  const r = await sender.deliver(
    { mode: 'ping', url, bearer: 'x', body: {}, deadline: Date.now() + 1 },
    () => undefined,
  );
  t.match(r, { delivered: false, error: /HTTP 302/ });
  t.equal(seen.length, 1);
});

t.test('close() stops a delivery that is waiting to retry', async (t) => {
  const { pki, url } = await endpoint(t, [503, 503, 503, 503]);
  const sender = new NotificationSender({ ca: pki.ca.certPem, baseDelayMs: 60_000 });
  const pending = sender.deliver(
    { mode: 'push', url, bearer: 'x', body: {}, deadline: Date.now() + 3_600_000 },
    () => undefined,
  );
  setTimeout(() => void sender.close(), 100);
  t.match(await pending, { delivered: false, abandoned: true, error: /shutting down/ });
});
