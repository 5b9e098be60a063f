import t from 'tap';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCa, issueCertificate } from '../../src/pki/certificates.js';
import { certificateThumbprint } from '../../src/pki/thumbprint.js';
import { watchCertificates } from '../../src/gateway/reloads.js';
import { startGatewayFixture } from '../helpers/gateway.js';
import { testPki } from '../helpers/pki.js';
import { createSecretVolume } from '../helpers/secret-volume.js';
import { tlsHandshake } from '../helpers/tls-client.js';

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

t.test(
  'certificate and CA files swapped like a Kubernetes Secret take effect without a restart',
  async (t) => {
    const pki = await testPki();
    const server2 = await issueCertificate(pki.ca, {
      subject: 'CN=localhost,O=rotated',
      usage: 'server',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      days: 30,
    });
    const ca2 = await createCa({ subject: 'CN=Second client CA' });
    const clientOfCa2 = await issueCertificate(ca2, { subject: 'CN=client-c', usage: 'client' });
    const volume = createSecretVolume({
      'tls.crt': pki.server.certPem,
      'tls.key': pki.server.keyPem,
      'ca.crt': pki.ca.certPem,
    });
    t.teardown(() => volume.remove());
    const f = await startGatewayFixture(t, {
      tls: { cert: volume.file('tls.crt'), key: volume.file('tls.key'), clientCa: volume.file('ca.crt') },
    });
    const watch = watchCertificates(
      f.config.tls,
      (m) => f.gateway.useTlsMaterial(m),
      f.gateway.logger,
      f.gateway.metrics,
      {
        debounceMs: 50,
      },
    );
    t.teardown(() => watch.close());
    const reloads = (result: string) =>
      f.metric('fapi_gateway_config_reloads_total', { kind: 'certificates', result });
    const waitFor = async (result: string, n: number) => {
      for (let i = 0; i < 200 && (await reloads(result)) < n; i++) await sleep(25);
      t.equal(await reloads(result), n, `${result} reloads: ${n}`);
    };
    const port = f.gateway.listenPort;
    const token = await f.token();

    // An open keep-alive connection made before the swap.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const overKeptConnection = () =>
      new Promise<{ status: number; server: string }>((resolve, reject) => {
        https
          .get(
            {
              host: '127.0.0.1',
              port,
              servername: 'localhost',
              path: '/accounts',
              agent,
              ca: pki.ca.certPem,
              cert: pki.clientA.certPem,
              key: pki.clientA.keyPem,
              headers: { authorization: `Bearer ${token}` },
            },
            (res) => {
              const server = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, server }));
            },
          )
          .on('error', reject);
      });
    const before = await overKeptConnection();
    t.equal(before.status, 200);
    t.equal(before.server, fingerprint(pki.server.certPem));

    await t.test('a new server certificate serves new connections; the open one keeps working', async (t) => {
      volume.update({ 'tls.crt': server2.certPem, 'tls.key': server2.keyPem, 'ca.crt': pki.ca.certPem });
      await waitFor('success', 1);
      const fresh = await tlsHandshake({ port, caPem: pki.ca.certPem, client: pki.clientA });
      t.ok(fresh.ok, fresh.error ?? 'handshake completed');
      t.equal(fresh.serverFingerprint, fingerprint(server2.certPem), 'new connection: new certificate');
      const kept = await overKeptConnection();
      t.equal(kept.status, 200, 'the connection opened before the swap still serves');
      t.equal(kept.server, fingerprint(pki.server.certPem), 'and still is the old TLS session');
      t.equal(
        await f.metric('fapi_gateway_certificate_expiry_timestamp_seconds', { kind: 'server' }),
        Math.floor(server2.cert.notAfter.getTime() / 1000),
        'expiry gauge follows the new certificate',
      );
    });

    await t.test(
      'a new client CA bundle decides which client certificates new connections accept',
      async (t) => {
        volume.update({ 'tls.crt': server2.certPem, 'tls.key': server2.keyPem, 'ca.crt': ca2.certPem });
        await waitFor('success', 2);
        const oldClient = await tlsHandshake({ port, caPem: pki.ca.certPem, client: pki.clientA });
        t.notOk(oldClient.ok, 'client A (old CA) refused');
        const newClient = await tlsHandshake({ port, caPem: pki.ca.certPem, client: clientOfCa2 });
        t.ok(newClient.ok, newClient.error ?? 'handshake completed');
        const boundToC = await f.token({ bindTo: null, thumbprint: certificateThumbprint(clientOfCa2.der) });
        const res = await f.request({ client: clientOfCa2, token: boundToC });
        t.equal(res.status, 200);
      },
    );

    await t.test(
      'a broken certificate file is refused, counted, and the current material keeps serving',
      async (t) => {
        volume.update({ 'tls.crt': 'not a certificate\n', 'tls.key': server2.keyPem, 'ca.crt': ca2.certPem });
        await waitFor('failure', 1);
        const still = await tlsHandshake({ port, caPem: pki.ca.certPem, client: clientOfCa2 });
        t.ok(still.ok, still.error ?? 'handshake completed');
        t.equal(still.serverFingerprint, fingerprint(server2.certPem));
        volume.update({ 'tls.crt': pki.server.certPem, 'tls.key': server2.keyPem, 'ca.crt': ca2.certPem });
        await waitFor('failure', 2);
        t.ok(
          f.logs.some((l) => l.event === 'certificate_reload' && String(l.err).includes('does not match')),
          'key mismatch logged',
        );
        const stillAfterMismatch = await tlsHandshake({ port, caPem: pki.ca.certPem, client: clientOfCa2 });
        t.equal(stillAfterMismatch.serverFingerprint, fingerprint(server2.certPem));
        t.equal(await reloads('success'), 2, 'no success counted for broken files');
      },
    );
  },
);
