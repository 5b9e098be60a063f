import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import t from 'tap';
import { startGatewayFixture } from '../helpers/gateway.js';
import { ecKeys, oddClientCredential, rsaKeys, weakRootCa } from '../helpers/odd-certificates.js';
import { mtlsRequest, tlsHandshake } from '../helpers/tls-client.js';
import { eventually, heldConnection, silentConnection } from '../helpers/tls-probes.js';
t.test('a connection that never finishes its handshake is closed and counted', async (t) => {
  const f = await startGatewayFixture(t, { tls: { handshakeTimeoutMs: 300 } });
  const idle = silentConnection(f.gateway.listenPort);
  await idle.closed;
  await eventually(
    async () =>
      (await f.metric('fapi_gateway_tls_handshake_failures_total', { reason: 'handshake_timeout' })) === 1,
  );
  t.pass('closed by the gateway and counted as handshake_timeout');
  // Node's HTTPS server also reports a handshake timeout as a client error of the HTTP layer: counted
  // once, at the TLS layer, and never as a rejected request.
  t.equal(await f.metric('fapi_gateway_rejections_total', { reason: 'malformed_request' }), 0);
  t.equal(await f.metric('fapi_gateway_requests_total'), 0, 'no request was counted');
  const r = await tlsHandshake({
    port: f.gateway.listenPort,
    caPem: f.pki.ca.certPem,
    client: f.pki.clientA,
  });
  t.ok(r.ok, 'a prompt handshake still completes');
});

t.test(
  'a connection closed before its ClientHello never starts TLS; a ClientHello in pieces still does',
  async (t) => {
    // A TLS session made for every TCP connection costs its OpenSSL buffers when the client closes it
    // unannounced; such connections are handed to TLS only once they have sent a byte.
    const f = await startGatewayFixture(t, { tls: { handshakeTimeoutMs: 300 } });
    const port = f.gateway.listenPort;
    const bare = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(port, '127.0.0.1', () => resolve(s));
            s.on('error', () => undefined);
          }),
      ),
    );
    // Accepted in order: once a later connection has finished its handshake, the server holds all twenty.
    t.ok((await tlsHandshake({ port, caPem: f.pki.ca.certPem, client: f.pki.clientA })).ok);
    for (const s of bare) s.destroy();
    // A silent connection closed by the timeout, after the twenty were closed by their clients.
    await silentConnection(port).closed;
    await eventually(
      async () =>
        (await f.metric('fapi_gateway_tls_handshake_failures_total', { reason: 'handshake_timeout' })) === 1,
    );
    t.equal(
      await f.metric('fapi_gateway_tls_handshake_failures_total', { reason: 'other' }),
      0,
      'no TLS session was started for the connections that sent nothing',
    );

    // The first byte of the ClientHello alone, the rest 100 ms later: the bytes already read reach TLS.
    const token = await f.token();
    const answer = await new Promise<string>((resolve, reject) => {
      const raw = net.connect(port, '127.0.0.1');
      let first = true;
      const split = new Duplex({
        write(chunk: Buffer, _encoding, callback) {
          if (!first) return raw.write(chunk, callback);
          first = false;
          raw.write(chunk.subarray(0, 1));
          setTimeout(() => raw.write(chunk.subarray(1), callback), 100);
        },
        read() {},
        final(callback) {
          raw.end();
          callback();
        },
      });
      raw.on('data', (d: Buffer) => split.push(d));
      raw.on('end', () => split.push(null));
      raw.on('error', reject);
      const socket = tls.connect({
        socket: split,
        servername: 'localhost',
        ca: f.pki.ca.certPem,
        cert: f.pki.clientA.certPem,
        key: f.pki.clientA.keyPem,
      });
      let text = '';
      socket.on('secureConnect', () =>
        socket.write(
          `GET /accounts HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
        ),
      );
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    t.match(answer, /^HTTP\/1\.1 200 /, 'served');
    t.equal(f.upstream.hits, 1);
  },
);

t.test('the handshake timeout defaults to 10 s', async (t) => {
  const f = await startGatewayFixture(t);
  t.equal(f.config.tls.handshakeTimeoutMs, 10_000);
});

t.test('connections over limits.maxConnections are closed on accept and counted', async (t) => {
  const f = await startGatewayFixture(t, { limits: { maxConnections: 2 } });
  const o = { port: f.gateway.listenPort, caPem: f.pki.ca.certPem, client: f.pki.clientA };
  const first = await heldConnection(o);
  const second = await heldConnection(o);
  t.ok(first.ok && second.ok, 'two connections fit');
  const third = await tlsHandshake(o);
  t.notOk(third.ok, 'the third is closed');
  t.equal(await f.metric('fapi_gateway_connections_refused_total'), 1);
  t.equal(await f.metric('fapi_gateway_open_connections'), 2);
  await first.close();
  await eventually(async () => (await tlsHandshake(o)).ok);
  t.pass('a connection fits again once one closed');
  await second.close();
  t.equal(f.upstream.hits, 0);
});

t.test('client certificates FAPI does not allow fail at the TLS layer, counted by reason', async (t) => {
  const f = await startGatewayFixture(t);
  const port = f.gateway.listenPort;
  const caPem = f.pki.ca.certPem;
  const cases = [
    // Node 24's OpenSSL refuses this key itself while verifying the chain (security level 2): still weak_key.
    {
      name: 'RSA 1024',
      reason: 'weak_key',
      cred: await oddClientCredential(f.pki, { keys: rsaKeys(1024) }),
    },
    { name: 'CA:TRUE', reason: 'ca_certificate', cred: await oddClientCredential(f.pki, { isCa: true }) },
    {
      name: 'DER over 5 KiB',
      reason: 'certificate_too_large',
      cred: await oddClientCredential(f.pki, { padBytes: 6000 }),
    },
  ];
  const good = [
    { name: 'RSA 2048', cred: await oddClientCredential(f.pki, { keys: rsaKeys(2048) }) },
    { name: 'EC P-384', cred: await oddClientCredential(f.pki, { keys: ecKeys('secp384r1') }) },
    { name: 'DER of 4 KiB', cred: await oddClientCredential(f.pki, { padBytes: 3000 }) },
  ];
  for (const c of good) {
    await t.test(`${c.name}: accepted (TLS 1.3 and 1.2)`, async (t) => {
      for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
        const token = await f.token({ thumbprint: c.cred.thumbprint });
        const r = await f.request({ client: c.cred, token, tlsOptions: { maxVersion } });
        t.equal(r.status, 200, `${maxVersion}: forwarded`);
      }
    });
  }
  for (const c of cases) {
    await t.test(`${c.name}: refused as ${c.reason}, never forwarded`, async (t) => {
      for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
        const counted = () => f.metric('fapi_gateway_tls_handshake_failures_total', { reason: c.reason });
        const before = await counted();
        const hits = f.upstream.hits;
        const token = await f.token({ thumbprint: c.cred.thumbprint });
        await t.rejects(
          mtlsRequest({
            port,
            caPem,
            client: c.cred,
            path: '/accounts',
            headers: { authorization: `Bearer ${token}` },
            // SECLEVEL=0: Node 24's OpenSSL would otherwise refuse to send an RSA-1024 certificate at all;
            // the test is that the server refuses it.
            tlsOptions: { maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' },
          }),
          `${maxVersion}: the connection is closed without an HTTP answer`,
        );
        t.equal(await counted(), before + 1, `${maxVersion}: counted`);
        t.equal(f.upstream.hits, hits, `${maxVersion}: nothing forwarded`);
      }
    });
  }
  t.equal(await f.metric('fapi_gateway_upstream_errors_total', { kind: 'other' }), 0);
});

t.test('a client certificate whose CA has a key FAPI does not allow is refused as weak_key', async (t) => {
  const f = await startGatewayFixture(t);
  const root = await weakRootCa(f.pki);
  // The operator's bundle trusts the test CA and the weak one; the key rule covers every CA of the chain.
  const bundle = f.pki.write('client-ca-with-weak-root.pem', f.pki.ca.certPem + root.certPem);
  f.gateway.reload({ ...f.config, tls: { ...f.config.tls, clientCa: bundle } });
  const cred = await oddClientCredential(f.pki, { issuer: root });
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const before = await f.metric('fapi_gateway_tls_handshake_failures_total', { reason: 'weak_key' });
    const token = await f.token({ thumbprint: cred.thumbprint });
    await t.rejects(
      f.request({ client: cred, token, tlsOptions: { maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' } }),
      `${maxVersion}: the connection is closed without an HTTP answer`,
    );
    t.equal(
      await f.metric('fapi_gateway_tls_handshake_failures_total', { reason: 'weak_key' }),
      before + 1,
      `${maxVersion}: counted as weak_key`,
    );
  }
  const token = await f.token();
  t.equal((await f.request({ token })).status, 200, 'a client of the other CA is still served');
  t.equal(f.upstream.hits, 1, 'only that request was forwarded');
});
