import t from 'tap';
import { startGatewayFixture } from '../helpers/gateway.js';
import { tlsHandshake } from '../helpers/tls-client.js';

t.test('the listener enforces the FAPI TLS policy and counts refused handshakes', async (t) => {
  const f = await startGatewayFixture(t);
  const port = f.gateway.listenPort;
  const caPem = f.pki.ca.certPem;
  const failures = (reason: string) => f.metric('fapi_gateway_tls_handshake_failures_total', { reason });

  await t.test('TLS 1.3 with client A completes', async (t) => {
    const r = await tlsHandshake({ port, caPem, client: f.pki.clientA });
    t.ok(r.ok, r.error ?? 'handshake completed');
    t.equal(r.protocol, 'TLSv1.3');
  });
  for (const cipher of [
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'DHE-RSA-AES128-GCM-SHA256',
    'DHE-RSA-AES256-GCM-SHA384',
  ]) {
    await t.test(`TLS 1.2 with the FAPI suite ${cipher} completes`, async (t) => {
      const r = await tlsHandshake({
        port,
        caPem,
        client: f.pki.clientA,
        options: { maxVersion: 'TLSv1.2', ciphers: cipher },
      });
      t.ok(r.ok, r.error ?? 'handshake completed');
      t.equal(r.protocol, 'TLSv1.2');
      t.equal(r.cipher, cipher);
    });
  }
  await t.test('no client certificate: refused', async (t) => {
    const r = await tlsHandshake({ port, caPem });
    t.notOk(r.ok);
    t.equal(await failures('no_certificate'), 1);
  });
  await t.test('no client certificate over TLS 1.2: refused', async (t) => {
    const r = await tlsHandshake({ port, caPem, options: { maxVersion: 'TLSv1.2' } });
    t.notOk(r.ok);
    t.equal(await failures('no_certificate'), 2);
  });
  await t.test('a client certificate from an untrusted CA: refused', async (t) => {
    const r = await tlsHandshake({ port, caPem, client: f.pki.untrusted });
    t.notOk(r.ok);
    t.equal(await failures('untrusted_certificate'), 1);
  });
  await t.test('a self-signed client certificate: refused', async (t) => {
    const r = await tlsHandshake({ port, caPem, client: f.pki.selfSigned });
    t.notOk(r.ok);
    t.equal(await failures('untrusted_certificate'), 2);
  });
  await t.test('TLS 1.1: refused', async (t) => {
    const r = await tlsHandshake({
      port,
      caPem,
      client: f.pki.clientA,
      options: { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' },
    });
    t.notOk(r.ok);
    t.equal(await failures('protocol_version'), 1);
  });
  for (const cipher of ['ECDHE-RSA-AES128-SHA256', 'AES128-GCM-SHA256', 'ECDHE-RSA-CHACHA20-POLY1305']) {
    await t.test(`TLS 1.2 with the non-FAPI suite ${cipher}: refused`, async (t) => {
      const before = await failures('cipher');
      const r = await tlsHandshake({
        port,
        caPem,
        client: f.pki.clientA,
        options: { maxVersion: 'TLSv1.2', ciphers: cipher },
      });
      t.notOk(r.ok);
      t.equal(await failures('cipher'), before + 1);
    });
  }
  t.equal(f.upstream.hits, 0, 'no handshake test reached the upstream');
});
