import t from 'tap';
import { startTestIssuer } from '../helpers/issuer.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { ecServerCredential, oddClientCredential, rsaKeys } from '../helpers/odd-certificates.js';
import { testPki } from '../helpers/pki.js';
import { tlsHandshake } from '../helpers/tls-client.js';
import { eventually, heldConnection, renegotiationAllowed, silentConnection } from '../helpers/tls-probes.js';

const SUITES = {
  rsa: ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-AES128-GCM-SHA256'],
  ec: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
};

for (const kind of ['rsa', 'ec'] as const) {
  t.test(
    `issuer listeners with an ${kind === 'rsa' ? 'RSA' : 'ECDSA P-256'} server certificate`,
    async (t) => {
      const pki = await testPki();
      const server = kind === 'rsa' ? pki.server : await ecServerCredential(pki);
      const ti = await startTestIssuer({
        config: {
          tls: {
            cert: server.certFile,
            key: server.keyFile,
            clientCa: pki.ca.certFile,
            handshakeTimeoutMs: 300,
          },
        },
      });
      t.teardown(() => ti.close());
      const metric = async (name: string, labels: Record<string, string>) =>
        metricValue((await fetchText(ti.issuer.adminPort!, '/metrics')).body, name, labels) ?? 0;
      for (const [listener, url] of [
        ['main', ti.issuer.url],
        ['mtls', ti.issuer.mtlsUrl],
      ] as const) {
        const port = Number(new URL(url).port);
        const caPem = pki.ca.certPem;
        const client = listener === 'mtls' ? pki.clientA : undefined;
        await t.test(`${listener}: TLS 1.3 and the key's TLS 1.2 suites complete`, async (t) => {
          t.match(await tlsHandshake({ port, caPem, client }), { ok: true, protocol: 'TLSv1.3' });
          for (const cipher of SUITES[kind]) {
            const r = await tlsHandshake({
              port,
              caPem,
              client,
              options: { maxVersion: 'TLSv1.2', ciphers: cipher },
            });
            t.match(r, { ok: true, protocol: 'TLSv1.2', cipher }, cipher);
          }
        });
        await t.test(`${listener}: other TLS 1.2 suites are refused and counted as cipher`, async (t) => {
          const other = kind === 'rsa' ? SUITES.ec : SUITES.rsa;
          const before = await metric('fapi_issuer_tls_handshake_failures_total', {
            listener,
            reason: 'cipher',
          });
          for (const cipher of [...other, 'AES128-GCM-SHA256']) {
            const r = await tlsHandshake({
              port,
              caPem,
              client,
              options: { maxVersion: 'TLSv1.2', ciphers: cipher },
            });
            t.notOk(r.ok, cipher);
          }
          t.equal(
            await metric('fapi_issuer_tls_handshake_failures_total', { listener, reason: 'cipher' }),
            before + other.length + 1,
          );
        });
        await t.test(`${listener}: renegotiation is refused`, async (t) => {
          t.match(await renegotiationAllowed({ port, caPem, client }), {
            connected: true,
            renegotiated: false,
          });
        });
        await t.test(
          `${listener}: a connection that never finishes its handshake is closed and counted`,
          async (t) => {
            await silentConnection(port).closed;
            await eventually(
              async () =>
                (await metric('fapi_issuer_tls_handshake_failures_total', {
                  listener,
                  reason: 'handshake_timeout',
                })) === 1,
            );
            t.pass('counted as handshake_timeout');
          },
        );
      }
    },
  );
}

t.test('the mTLS listener refuses client certificates FAPI does not allow, counted by reason', async (t) => {
  const ti = await startTestIssuer();
  t.teardown(() => ti.close());
  const port = Number(new URL(ti.issuer.mtlsUrl).port);
  const caPem = ti.pki.ca.certPem;
  const metric = async (reason: string) =>
    metricValue(
      (await fetchText(ti.issuer.adminPort!, '/metrics')).body,
      'fapi_issuer_tls_handshake_failures_total',
      {
        listener: 'mtls',
        reason,
      },
    ) ?? 0;
  const refused = [
    { reason: 'weak_key', cred: await oddClientCredential(ti.pki, { keys: rsaKeys(1024) }) },
    { reason: 'ca_certificate', cred: await oddClientCredential(ti.pki, { isCa: true }) },
    { reason: 'certificate_too_large', cred: await oddClientCredential(ti.pki, { padBytes: 6000 }) },
  ];
  for (const c of refused) {
    // SECLEVEL=0: Node 24's OpenSSL would otherwise refuse to send an RSA-1024 certificate at all.
    const r = await tlsHandshake({ port, caPem, client: c.cred, options: { ciphers: 'DEFAULT@SECLEVEL=0' } });
    t.notOk(r.ok, c.reason);
    t.equal(await metric(c.reason), 1, `counted as ${c.reason}`);
  }
  t.match(
    await tlsHandshake({ port, caPem, client: ti.pki.clientA }),
    { ok: true },
    'a valid certificate passes',
  );
  t.match(
    await tlsHandshake({ port, caPem, client: ti.pki.selfSigned }),
    { ok: true },
    'so does a self-signed one',
  );
});

t.test('connections over limits.maxConnections are closed on accept and counted', async (t) => {
  const ti = await startTestIssuer({ config: { limits: { maxConnections: 1 } } });
  t.teardown(() => ti.close());
  const port = Number(new URL(ti.issuer.mtlsUrl).port);
  const held = await heldConnection({ port, caPem: ti.pki.ca.certPem, client: ti.pki.clientA });
  t.ok(held.ok);
  t.notOk((await tlsHandshake({ port, caPem: ti.pki.ca.certPem, client: ti.pki.clientA })).ok);
  const text = (await fetchText(ti.issuer.adminPort!, '/metrics')).body;
  t.equal(metricValue(text, 'fapi_issuer_connections_refused_total', { listener: 'mtls' }), 1);
  await held.close();
});
