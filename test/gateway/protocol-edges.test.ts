import t from 'tap';
import tls from 'node:tls';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway.js';
import { expectRejection, UUID_PATTERN } from '../helpers/gateway-assertions.js';
import type { TestResponse } from '../helpers/tls-client.js';

/** Writes `request` as it is over a fresh mTLS connection (client A) and returns every byte until the gateway closes. */
function rawExchange(f: GatewayFixture, request: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: f.gateway.listenPort,
      servername: 'localhost',
      ca: f.pki.ca.certPem,
      cert: f.pki.clientA.certPem,
      key: f.pki.clientA.keyPem,
    });
    let answer = '';
    socket.setTimeout(20_000, () => socket.destroy(new Error('the gateway did not close the connection')));
    socket.on('secureConnect', () => socket.write(request));
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
  });
}

/** Splits raw bytes holding exactly one response (Content-Length framed) into a TestResponse. */
function parseOne(raw: string): TestResponse & { rest: string } {
  const end = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '')?.[1] ?? 0);
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(name, value);
    headers[name.toLowerCase()] = value;
  }
  const length = Number(headers['content-length'] ?? 0);
  const body = raw.slice(end + 4, end + 4 + length);
  return {
    status,
    headers,
    rawHeaders,
    body,
    json: () => JSON.parse(body) as Record<string, unknown>,
    rest: raw.slice(end + 4 + length),
  };
}

t.test('Host: exactly one on HTTP/1.1 (RFC 9112 §3.2)', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();

  await t.test('no Host: the gateway answers 400 invalid_request, counted', async (t) => {
    const raw = await rawExchange(
      f,
      `GET /accounts HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    );
    const res = parseOne(raw);
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'host_missing' });
    t.equal(res.rest, '', 'one answer only');
  });
  await t.test('two Host headers: 400 invalid_request, never forwarded', async (t) => {
    const raw = await rawExchange(
      f,
      `GET /accounts HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n` +
        `Authorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    );
    const res = parseOne(raw);
    await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'ambiguous_request' });
  });
  await t.test('a well-formed request on the same gateway still passes', async (t) => {
    const res = await f.request({ token });
    t.equal(res.status, 200);
  });
});

t.test('CONNECT is answered by the gateway, not dropped', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const raw = await rawExchange(
    f,
    `CONNECT upstream.internal:443 HTTP/1.1\r\nHost: upstream.internal:443\r\nAuthorization: Bearer ${token}\r\n\r\n`,
  );
  const res = parseOne(raw);
  await expectRejection(t, f, res, {
    status: 400,
    error: 'invalid_request',
    reason: 'connect_not_supported',
  });
  t.equal(res.headers.connection, 'close');
  t.equal(res.rest, '', 'nothing else on the connection');
});

t.test('transfer codings other than chunked are refused (RFC 9112 §6.1)', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const raw = await rawExchange(
    f,
    `POST /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
      'Content-Type: application/octet-stream\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' +
      '5\r\nhello\r\n0\r\n\r\n',
  );
  const res = parseOne(raw);
  await expectRejection(t, f, res, {
    status: 501,
    error: 'invalid_request',
    reason: 'unsupported_transfer_coding',
  });
  t.equal(res.headers.connection, 'close', 'the unread body is not parsed as a next request');

  await t.test('chunked alone is forwarded', async (t) => {
    const raw = await rawExchange(
      f,
      `POST /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        'Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        '5\r\nhello\r\n0\r\n\r\n',
    );
    t.match(raw, /^HTTP\/1\.1 200 /);
    t.equal(f.upstream.last()?.body, 'hello');
  });
});

t.test('a malformed request pipelined behind a valid one', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();

  await t.test('does not replace or corrupt the response being written', async (t) => {
    const raw = await rawExchange(
      f,
      `GET /accounts/1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        'x-echo-delay-ms: 300\r\n\r\n' +
        'NOT HTTP AT ALL\r\n\r\n',
    );
    const res = parseOne(raw);
    t.equal(res.status, 200, `the first request is answered: ${raw.slice(0, 200)}`);
    t.match(res.headers['x-fapi-interaction-id'], UUID_PATTERN);
    t.equal(raw.split('HTTP/1.1 ').length, 2, 'no raw 400 inside or after it');
    t.ok(raw.endsWith('\r\n0\r\n\r\n'), 'the chunked body is complete, then the connection is closed');
    t.match(raw, /"url":"\/accounts\/1"/, 'with the upstream body');
    t.equal(f.upstream.hits, 1, 'only the valid request was forwarded');
    t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'malformed_request' }), 1);
  });
  await t.test('alone on its connection: the JSON 400 with Connection: close', async (t) => {
    const raw = await rawExchange(f, 'NOT HTTP AT ALL\r\n\r\n');
    const res = parseOne(raw);
    t.equal(res.status, 400);
    t.equal(res.headers.connection, 'close');
    t.equal(res.json().error, 'invalid_request');
    t.match(res.headers['x-fapi-interaction-id'], UUID_PATTERN);
    t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'malformed_request' }), 2);
  });
});
