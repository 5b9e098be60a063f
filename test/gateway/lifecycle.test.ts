import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { testGatewayConfigInput } from '../helpers/gateway.js';
import { startGatewayProcessFixture, writeConfig } from '../helpers/gateway-process.js';
import { fetchText } from '../helpers/metrics-text.js';
import { testPki } from '../helpers/pki.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { mintAccessToken } from '../helpers/tokens.js';

t.test('SIGTERM: a slow in-flight request completes, new connections are refused, exit code 0', async (t) => {
  // The JWKS CA comes from NODE_EXTRA_CA_CERTS here, the way operators add a private CA.
  const {
    pki,
    key,
    upstream,
    gateway: gw,
  } = await startGatewayProcessFixture(t, {
    fileName: 'lifecycle.yaml',
    edit: (input) => delete (input.tokens as Record<string, unknown>).jwksCa,
    env: ({ pki }) => ({ NODE_EXTRA_CA_CERTS: pki.ca.certFile }),
  });
  t.equal((await fetchText(gw.adminPort, '/readyz')).status, 200, 'ready once the JWKS is loaded over HTTPS');

  const token = await mintAccessToken(key, { thumbprint: pki.clientA.thumbprint });
  const slow = mtlsRequest({
    port: gw.listenPort,
    caPem: pki.ca.certPem,
    client: pki.clientA,
    path: '/accounts/slow',
    headers: { authorization: `Bearer ${token}`, 'x-echo-delay-ms': '1500' },
  });
  while (upstream.hits === 0) await sleep(20);
  gw.child.kill('SIGTERM');
  await gw.waitForLog((l) => l.event === 'draining');
  const refused = await mtlsRequest({
    port: gw.listenPort,
    caPem: pki.ca.certPem,
    client: pki.clientA,
    headers: { authorization: `Bearer ${token}` },
  }).then(
    () => 'answered',
    (err: NodeJS.ErrnoException) => err.code,
  );
  t.equal(refused, 'ECONNREFUSED', 'no new connections while draining');
  const res = await slow;
  t.equal(res.status, 200, 'the in-flight request completed');
  t.equal(res.json().url, '/accounts/slow');
  const { code } = await gw.exited;
  t.equal(code, 0, 'exit code 0');
  t.ok(gw.logs.some((l) => l.event === 'stopped'));
  t.notOk(JSON.stringify(gw.logs).includes(token), 'the token was never logged');
});

t.test('start-up errors are one line naming the key, exit code 2', async (t) => {
  const pki = await testPki();
  const { spawnSync } = await import('node:child_process');
  const { CLI } = await import('../helpers/gateway-process.js');
  const input = testGatewayConfigInput(pki, 'https://localhost:1/jwks', 'http://127.0.0.1:1', {
    tls: { cert: pki.clientA.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
  });
  const file = writeConfig(pki.dir, 'mismatched-key.yaml', input);
  const r = spawnSync(process.execPath, [CLI, 'gateway', '--config', file], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr, /^fapi-gateway: tls\.key: .* does not match the certificate/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});
