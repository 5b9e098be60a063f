import t, { type Test } from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createTestPki, type TestPki } from '../helpers/pki.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { startGatewayFixture, startGatewayPeers, testGatewayConfigInput } from '../helpers/gateway.js';
import { startGatewayProcess, waitUntilReady, writeConfig } from '../helpers/gateway-process.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchCaBundles } from '../../src/gateway/reloads.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { mintAccessToken } from '../helpers/tokens.js';

t.test('a reload with the same configuration picks up a changed tokens.jwksCa file', async (t) => {
  // The JWKS endpoint's certificate comes from another CA than the one tokens.jwksCa names at start.
  const other = await createTestPki();
  const f0 = await startGatewayFixture(t, {}, { waitForReady: true });
  const jwks = await startJwksServer(other, [f0.key.publicJwk]);
  t.teardown(() => jwks.close());
  const caFile = path.join(other.dir, 'jwks-ca-bundle.pem');
  writeFileSync(caFile, f0.pki.ca.certPem);
  const f = await startGatewayFixture(
    t,
    { tokens: { jwksUri: jwks.url, jwksCa: caFile, jwksCooldownSeconds: 0 } },
    { waitForReady: false },
  );
  t.equal(f.gateway.ready(), false, 'the JWKS endpoint is not trusted with the old bundle');

  writeFileSync(caFile, other.ca.certPem);
  f.gateway.reload(f.config);
  await f.gateway.whenReady();
  t.equal(f.gateway.ready(), true, 'the rebuilt JWKS cache trusts the new bundle');
  const res = await f.request({
    token: await mintAccessToken(f0.key, { thumbprint: f.pki.clientA.thumbprint }),
  });
  t.equal(res.status, 200, 'tokens verify with keys fetched through the new bundle');
});

/** An HTTPS upstream whose certificate comes from `pki`'s CA. */
async function startTlsUpstream(t: Test, pki: TestPki): Promise<string> {
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"upstream":"tls"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * The gateway process with tokens.jwksCa and upstream.ca in files of their own, both at first holding a CA
 * that does not issue the peer's certificate (the JWKS server is `peers.pki`'s, the upstream `other`'s).
 */
async function startWithWrongBundles(t: Test, overrides: Record<string, unknown> = {}) {
  const peers = await startGatewayPeers(t);
  const other = await createTestPki();
  const upstreamUrl = await startTlsUpstream(t, other);
  const jwksCaFile = other.write('jwks-ca.pem', other.ca.certPem);
  const upstreamCaFile = other.write('upstream-ca.pem', peers.pki.ca.certPem);
  const input = testGatewayConfigInput(peers.pki, peers.jwks.url, upstreamUrl, overrides);
  input.tokens = { ...(input.tokens as object), jwksCa: jwksCaFile, jwksCooldownSeconds: 0 };
  input.upstream = { ...(input.upstream as object), ca: upstreamCaFile };
  const gw = await startGatewayProcess(writeConfig(other.dir, 'ca-watch.yaml', input), {}, t);
  t.teardown(() => gw.child.kill('SIGTERM'));
  const token = await mintAccessToken(peers.key, {
    thumbprint: peers.pki.clientA.thumbprint,
    claims: { scope: 'accounts' },
  });
  const call = () =>
    mtlsRequest({
      port: gw.listenPort,
      caPem: peers.pki.ca.certPem,
      client: peers.pki.clientA,
      path: '/accounts',
      headers: { authorization: `Bearer ${token}` },
    });
  const reloads = (result: string) =>
    gw.logs.filter((l) => l.event === 'ca_bundle_reload' && l.result === result).length;
  const metric = async (labels: Record<string, string>) =>
    metricValue(
      (await fetchText(gw.adminPort, '/metrics')).body,
      'fapi_gateway_config_reloads_total',
      labels,
    ) ?? 0;
  return { peers, other, gw, call, reloads, metric, jwksCaFile, upstreamCaFile };
}

t.test(
  'tokens.jwksCa and upstream.ca are watched: a new bundle on disk applies without SIGHUP',
  async (t) => {
    const { peers, other, gw, call, reloads, metric, jwksCaFile, upstreamCaFile } =
      await startWithWrongBundles(t);
    t.equal((await fetchText(gw.adminPort, '/readyz')).status, 503, 'the JWKS endpoint is not trusted');

    writeFileSync(jwksCaFile, peers.pki.ca.certPem);
    await gw.waitForLog(() => reloads('success') >= 1);
    t.equal(await waitUntilReady(gw.adminPort), 200, 'the rebuilt JWKS cache trusts the new bundle');
    const untrusted = await call();
    t.equal(untrusted.status, 502, 'the upstream certificate is not trusted by the old upstream.ca');

    writeFileSync(upstreamCaFile, other.ca.certPem);
    await gw.waitForLog(() => reloads('success') >= 2);
    const res = await call();
    t.equal(res.status, 200, 'the rebuilt forwarder trusts the new bundle');
    t.equal(res.body, '{"upstream":"tls"}');

    rmSync(upstreamCaFile);
    await gw.waitForLog(() => reloads('failure') >= 1);
    const refused = gw.logs.find((l) => l.event === 'ca_bundle_reload' && l.result === 'failure')!;
    t.match(String(refused.err), /upstream\.ca/, 'the log names the key');
    t.equal((await call()).status, 200, 'a vanished bundle is refused: the running forwarder stays');
    t.equal(await metric({ kind: 'ca_bundles', result: 'success' }), 2);
    t.equal(await metric({ kind: 'ca_bundles', result: 'failure' }), 1);
    t.equal(gw.logs.filter((l) => l.event === 'config_reload').length, 0, 'no SIGHUP was needed');
  },
);

t.test('with workers, the primary watches the CA bundles and every worker rebuilds', async (t) => {
  const { peers, other, gw, call, reloads, metric, jwksCaFile, upstreamCaFile } = await startWithWrongBundles(
    t,
    { workers: 2 },
  );
  writeFileSync(jwksCaFile, peers.pki.ca.certPem);
  writeFileSync(upstreamCaFile, other.ca.certPem);
  await gw.waitForLog(() => reloads('success') >= 1);
  t.equal(await waitUntilReady(gw.adminPort), 200, 'every worker trusts the JWKS endpoint now');
  for (let i = 0; i < 6; i++) t.equal((await call()).status, 200, 'every worker trusts the upstream now');
  t.ok((await metric({ kind: 'ca_bundles', result: 'success' })) >= 1);
});

t.test('a bundle replaced while the gateway starts is applied once it runs', async (t) => {
  // The watch is created before start-up reads the files; the file changes before the gateway is up.
  const other = await createTestPki();
  const f0 = await startGatewayFixture(t, {}, { waitForReady: true });
  const caFile = other.write('starting-ca.pem', f0.pki.ca.certPem);
  const config = { ...f0.config, tokens: { ...f0.config.tokens, jwksCa: caFile } };
  let rebuilds = 0;
  const watch = watchCaBundles(config, () => void rebuilds++, f0.gateway.logger, f0.gateway.metrics, {
    paused: true,
    debounceMs: 20,
  });
  t.teardown(() => watch.close());
  writeFileSync(caFile, other.ca.certPem);
  await sleep(200);
  t.equal(rebuilds, 0, 'nothing is applied while the gateway is still starting');
  watch.resume();
  t.equal(rebuilds, 1, 'the change made during start-up is applied when the watch resumes');
  watch.check();
  t.equal(rebuilds, 1, 'the same contents are not applied twice');
});
