import t from 'tap';
import { writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { issueCertificate } from '../../src/pki/certificates.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { testGatewayConfigInput } from '../helpers/gateway.js';
import { startGatewayProcess, writeConfig } from '../helpers/gateway-process.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { testPki } from '../helpers/pki.js';
import { mtlsRequest, tlsHandshake } from '../helpers/tls-client.js';
import { createSigningKey, mintAccessToken } from '../helpers/tokens.js';

t.test(
  'SIGHUP reloads a valid configuration and keeps the running one on errors; TLS files are watched',
  async (t) => {
    const pki = await testPki();
    const key = await createSigningKey('PS256');
    const jwks = await startJwksServer(pki, [key.publicJwk]);
    t.teardown(() => jwks.close());
    const upstream = await startEchoUpstream();
    t.teardown(() => upstream.close());
    const certFile = pki.write('reload-server.pem', pki.server.certPem);
    const keyFile = pki.write('reload-server-key.pem', pki.server.keyPem);
    const input = testGatewayConfigInput(pki, jwks.url, upstream.url, {
      tls: { cert: certFile, key: keyFile, clientCa: pki.ca.certFile },
    });
    const file = writeConfig(pki.dir, 'reload.yaml', input);
    const gw = await startGatewayProcess(file, {}, t);
    t.teardown(() => gw.child.kill('SIGTERM'));
    for (let i = 0; i < 100 && (await fetchText(gw.adminPort, '/readyz')).status !== 200; i++)
      await sleep(100);
    const metric = async (labels: Record<string, string>) =>
      metricValue(
        (await fetchText(gw.adminPort, '/metrics')).body,
        'fapi_gateway_config_reloads_total',
        labels,
      ) ?? 0;
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
