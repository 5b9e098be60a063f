/**
 * What the issuer's HTTP parser refuses before a request exists, and a request with two Host lines:
 * each an RFC 6749 §5.2 JSON refusal that is counted (reason, endpoint "unmatched"), never Node's bare
 * status line; and a TLS handshake timeout counted once, at the TLS layer, not as a refused request.
 */
import t from 'tap';
import tls from 'node:tls';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { testPki } from '../helpers/pki.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { eventually, silentConnection } from '../helpers/tls-probes.js';

/** Raw bytes over mTLS (client A); resolves with everything the issuer wrote before closing. */
function raw(ti: TestIssuer, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        port: Number(new URL(ti.issuer.mtlsUrl).port),
        servername: 'localhost',
        ca: ti.pki.ca.certPem,
        cert: ti.pki.clientA.certPem,
        key: ti.pki.clientA.keyPem,
      },
      () => socket.write(bytes),
    );
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

const metrics = async (ti: TestIssuer) => (await fetchText(ti.issuer.adminPort!, '/metrics')).body;

function answer(text: string): { status: number; headers: string; body: Record<string, unknown> } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
    headers: head,
    body: JSON.parse(body) as Record<string, unknown>,
  };
}

const form = 'grant_type=client_credentials&client_id=tls-a&scope=accounts';

t.test('refused by the HTTP parser or for two Host lines: JSON, counted, connection closed', async (t) => {
  const ti = await startTestIssuer();
  t.teardown(() => ti.close());
  const cases = [
    {
      name: 'headers over the parser limit',
      bytes: `POST /token HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'x'.repeat(20 * 1024)}\r\n\r\n`,
      status: 431,
      reason: 'headers_too_large',
    },
    {
      name: 'a malformed Content-Length',
      bytes: 'POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n',
      status: 400,
      reason: 'malformed_request',
    },
    {
      name: 'two Host lines (RFC 9112 §3.2)',
      bytes: `POST /token HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\nConnection: close\r\n\r\n${form}`,
      status: 400,
      reason: 'malformed_request',
    },
  ];
  let expected = 0;
  for (const c of cases) {
    const a = answer(await raw(ti, c.bytes));
    t.equal(a.status, c.status, `${c.name}: status`);
    t.equal(a.body.error, 'invalid_request', `${c.name}: RFC 6749 §5.2 error`);
    t.match(a.headers, /Cache-Control: no-store/i, `${c.name}: not cached`);
    t.notOk('access_token' in a.body, `${c.name}: no token issued`);
    const text = await metrics(ti);
    expected += c.reason === 'malformed_request' ? 1 : 0;
    t.equal(
      metricValue(text, 'fapi_issuer_refusals_total', { reason: c.reason }),
      c.reason === 'malformed_request' ? expected : 1,
      `${c.name}: counted as ${c.reason}`,
    );
    t.ok(
      (metricValue(text, 'fapi_issuer_requests_total', { endpoint: 'unmatched', status: String(c.status) }) ??
        0) >= 1,
      `${c.name}: counted as a request`,
    );
  }
  t.equal(metricValue(await metrics(ti), 'fapi_issuer_tokens_issued_total') ?? 0, 0, 'no token issued');
  const ok = await ti.postForm(
    '/token',
    {
      grant_type: 'client_credentials',
      client_id: 'tls-a',
      scope: 'accounts',
    },
    { credential: ti.pki.clientA },
  );
  t.equal(ok.status, 200, 'the same request with one Host line gets its token');
});

t.test('a TLS handshake timeout is counted at the TLS layer only, not as a refused request', async (t) => {
  const pki = await testPki();
  const ti = await startTestIssuer({
    config: {
      tls: {
        cert: pki.server.certFile,
        key: pki.server.keyFile,
        clientCa: pki.ca.certFile,
        handshakeTimeoutMs: 300,
      },
    },
  });
  t.teardown(() => ti.close());
  const idle = silentConnection(Number(new URL(ti.issuer.mtlsUrl).port));
  await idle.closed;
  await eventually(
    async () =>
      metricValue(await metrics(ti), 'fapi_issuer_tls_handshake_failures_total', {
        listener: 'mtls',
        reason: 'handshake_timeout',
      }) === 1,
  );
  const text = await metrics(ti);
  t.equal(metricValue(text, 'fapi_issuer_refusals_total', { reason: 'malformed_request' }), 0);
  t.equal(metricValue(text, 'fapi_issuer_requests_total') ?? 0, 0, 'no request was counted');
});
