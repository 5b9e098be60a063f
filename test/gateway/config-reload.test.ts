import t from 'tap';
import { writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { issueCertificate } from '../../src/pki/certificates.js';
import { startGatewayProcessFixture, writeConfig } from '../helpers/gateway-process.js';
import { mtlsRequest, tlsHandshake } from '../helpers/tls-client.js';
import { mintAccessToken } from '../helpers/tokens.js';

t.test(
  'SIGHUP reloads a valid configuration and keeps the running one on errors; TLS files are watched',
  async (t) => {
    // The server certificate lives in files of its own, rewritten in place below.
    const f = await startGatewayProcessFixture(t, {
      fileName: 'reload.yaml',
      edit: (input, { pki }) => {
        input.tls = {
          cert: pki.write('reload-server.pem', pki.server.certPem),
          key: pki.write('reload-server-key.pem', pki.server.keyPem),
          clientCa: pki.ca.certFile,
        };
      },
    });
    const { pki, key, input, gateway: gw } = f;
    const { cert: certFile, key: keyFile } = input.tls as { cert: string; key: string };
    t.teardown(() => gw.child.kill('SIGTERM'));
    const metric = (labels: Record<string, string>) => f.metric('fapi_gateway_config_reloads_total', labels);
    const token = await mintAccessToken(key, {
      thumbprint: pki.clientA.thumbprint,
      claims: { scope: 'accounts' },
    });
    const call = (path: string) =>
      mtlsRequest({
        port: gw.listenPort,
        caPem: pki.ca.certPem,
        client: pki.clientA,
        path,
        headers: { authorization: `Bearer ${token}` },
      });
    const reloaded = (result: string, n: number) =>
      gw.waitForLog(
        () => gw.logs.filter((l) => l.event === 'config_reload' && l.result === result).length >= n,
      );

    t.equal((await call('/reports')).status, 404, 'no /reports route yet');
    writeConfig(pki.dir, 'reload.yaml', {
      ...input,
      routes: [...(input.routes as object[]), { path: '/reports', methods: ['GET'], scopes: ['accounts'] }],
    });
    gw.child.kill('SIGHUP');
    await reloaded('success', 1);
    t.equal((await call('/reports/1')).status, 200, 'the new route is served');

    writeConfig(pki.dir, 'reload.yaml', {
      ...input,
      tokens: { ...(input.tokens as object), clockSkewSeconds: 'lots' },
      extra: 1,
    });
    gw.child.kill('SIGHUP');
    await reloaded('failure', 1);
    const refused = gw.logs.find((l) => l.event === 'config_reload' && l.result === 'failure')!;
    t.match(JSON.stringify(refused.problems), /tokens\.clockSkewSeconds/, 'the log names the key');
    t.match(JSON.stringify(refused.problems), /"path":"extra"/);
    t.equal((await call('/reports/1')).status, 200, 'the running configuration stays');
    t.equal(await metric({ kind: 'config', result: 'success' }), 1);
    t.equal(await metric({ kind: 'config', result: 'failure' }), 1);

    // The certificate file is rewritten in place (not a symlink swap): the watch sees that too.
    const server2 = await issueCertificate(pki.ca, {
      subject: 'CN=localhost,O=v2',
      usage: 'server',
      dns: ['localhost'],
      ips: ['127.0.0.1'],
    });
    writeFileSync(keyFile, server2.keyPem);
    writeFileSync(certFile, server2.certPem);
    await gw.waitForLog((l) => l.event === 'certificate_reload' && l.result === 'success');
    const fresh = await tlsHandshake({ port: gw.listenPort, caPem: pki.ca.certPem, client: pki.clientA });
    t.equal(fresh.serverFingerprint, new X509Certificate(server2.certPem).fingerprint256);
    t.equal(await metric({ kind: 'certificates', result: 'success' }), 1);
  },
);
