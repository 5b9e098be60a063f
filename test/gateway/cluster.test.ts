import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatewayProcessFixture, waitUntilReady, writeConfig } from '../helpers/gateway-process.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { mintAccessToken } from '../helpers/tokens.js';

t.test(
  'workers: 2 share the listener; metrics aggregate; a crashed worker is replaced; SIGHUP and SIGTERM reach all',
  async (t) => {
    const f = await startGatewayProcessFixture(t, { overrides: { workers: 2 }, fileName: 'cluster.yaml' });
    const { pki, key, upstream, input, gateway: gw, admin, metric } = f;
    t.equal((await admin('/readyz')).status, 200, 'ready once every worker loaded the JWKS');

    const token = await mintAccessToken(key, {
      thumbprint: pki.clientA.thumbprint,
      claims: { scope: 'accounts' },
    });
    const call = (path = '/accounts', headers: Record<string, string> = {}) =>
      mtlsRequest({
        port: gw.listenPort,
        caPem: pki.ca.certPem,
        client: pki.clientA,
        path,
        headers: { authorization: `Bearer ${token}`, ...headers },
      });
    for (let i = 0; i < 6; i++) t.equal((await call()).status, 200);
    t.equal(
      await metric('fapi_gateway_requests_total', { route: '/accounts', outcome: 'forwarded' }),
      6,
      'summed over workers',
    );
    t.equal(await metric('fapi_gateway_workers'), 2);
    t.equal(await metric('fapi_gateway_up'), 1, 'gauges are not summed');
    t.equal(await metric('fapi_gateway_ready'), 1);
    const workerPids = new Set(
      gw.logs.filter((l) => l.event === 'started' && l.worker === true).map((l) => Number(l.pid)),
    );
    t.equal(workerPids.size, 2, 'two worker processes');

    await t.test('a killed worker is replaced and service continues', async (t) => {
      const victim = [...workerPids][0]!;
      process.kill(victim, 'SIGKILL');
      await gw.waitForLog((l) => l.event === 'worker_exited' && l.workerPid === victim);
      await gw.waitForLog(
        (l) => l.event === 'started' && l.worker === true && !workerPids.has(Number(l.pid)),
      );
      await waitUntilReady(gw.adminPort);
      for (let i = 0; i < 4; i++) t.equal((await call()).status, 200);
      t.equal(await metric('fapi_gateway_worker_restarts_total'), 1);
      t.equal(await metric('fapi_gateway_workers'), 2);
    });

    await t.test(
      'SIGHUP: a valid new configuration reaches every worker; an invalid one is refused',
      async (t) => {
        writeConfig(pki.dir, 'cluster.yaml', {
          ...input,
          routes: [{ path: '/accounts', methods: ['GET'], scopes: ['accounts', 'extra'] }],
        });
        gw.child.kill('SIGHUP');
        await gw.waitForLog((l) => l.event === 'config_reload' && l.result === 'success');
        for (let i = 0; i < 4; i++)
          t.equal((await call()).status, 403, 'every worker enforces the new scope');
        writeConfig(pki.dir, 'cluster.yaml', { ...input, routes: 'not a list' });
        gw.child.kill('SIGHUP');
        await gw.waitForLog((l) => l.event === 'config_reload' && l.result === 'failure');
        t.equal((await call()).status, 403, 'the running configuration stays');
        t.equal(await metric('fapi_gateway_config_reloads_total', { kind: 'config', result: 'success' }), 1);
        t.equal(await metric('fapi_gateway_config_reloads_total', { kind: 'config', result: 'failure' }), 1);
        writeConfig(pki.dir, 'cluster.yaml', input);
        gw.child.kill('SIGHUP');
        await gw.waitForLog(
          (l) =>
            l.event === 'config_reload' &&
            l.result === 'success' &&
            gw.logs.filter((x) => x.event === 'config_reload' && x.result === 'success').length === 2,
        );
      },
    );

    await t.test('SIGTERM drains every worker: an in-flight slow request completes, exit 0', async (t) => {
      upstream.reset();
      const slow = call('/accounts/slow', { 'x-echo-delay-ms': '1500' });
      while (upstream.hits === 0) await sleep(20);
      gw.child.kill('SIGTERM');
      const res = await slow;
      t.equal(res.status, 200);
      const { code } = await gw.exited;
      t.equal(code, 0);
    });
  },
);
