import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { metricsAuthorization } from '../../src/gateway/admin.js';
import { startGatewayFixture, testGatewayConfigInput } from '../helpers/gateway.js';
import { testPki } from '../helpers/pki.js';

function get(
  port: number,
  urlPath: string,
  authorization?: string,
): Promise<{ status: number; body: string; challenge?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: urlPath, headers: authorization ? { authorization } : {} },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () =>
          resolve({ status: res.statusCode!, body, challenge: res.headers['www-authenticate'] }),
        );
      },
    );
    req.on('error', reject);
  });
}

const secrets = mkdtempSync(path.join(tmpdir(), 'fapi-admin-'));
const tokenFile = path.join(secrets, 'metrics-token');
writeFileSync(tokenFile, 's3cr3t-metrics-token\n');
const passwordFile = path.join(secrets, 'metrics-password');
writeFileSync(passwordFile, 'hunter2-but-longer');

t.test('the admin listener binds to loopback unless told otherwise', async (t) => {
  const pki = await testPki();
  const config = gatewayConfigSchema.parse(
    testGatewayConfigInput(pki, 'https://127.0.0.1:1/jwks', 'http://127.0.0.1:1', { admin: undefined }),
  );
  t.equal(config.admin.host, '127.0.0.1');
  t.equal(config.admin.metricsAuth, undefined, '/metrics is open unless credentials are configured');
});

t.test('/metrics with a bearer token: refused without it, probes stay open', async (t) => {
  const f = await startGatewayFixture(t, {
    admin: { host: '127.0.0.1', port: 0, metricsAuth: { bearerTokenFile: tokenFile } },
  });
  const port = f.gateway.adminPort;
  const none = await get(port, '/metrics');
  t.equal(none.status, 401);
  t.match(none.challenge, /Bearer realm=/);
  t.notMatch(none.body, /fapi_gateway_/, 'no metric leaks on a refusal');
  t.equal((await get(port, '/metrics', 'Bearer wrong')).status, 401);
  t.equal((await get(port, '/metrics', 'Bearer s3cr3t-metrics-token-and-more')).status, 401);
  t.equal((await get(port, '/metrics', 'Basic czNjcjN0LW1ldHJpY3MtdG9rZW4=')).status, 401);
  const ok = await get(port, '/metrics', 'Bearer s3cr3t-metrics-token');
  t.equal(ok.status, 200);
  t.match(ok.body, /fapi_gateway_requests_total/);
  t.equal((await get(port, '/healthz')).status, 200, 'liveness needs no credentials');
  t.equal((await get(port, '/readyz')).status, 200, 'readiness needs no credentials');
});

t.test('/metrics with basic credentials', (t) => {
  const check = metricsAuthorization({
    host: '127.0.0.1',
    port: 0,
    metricsAuth: { basic: { username: 'prometheus', passwordFile } },
  });
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  t.equal(check!(basic('prometheus', 'hunter2-but-longer')), true);
  t.equal(check!(basic('prometheus', 'hunter2')), false);
  t.equal(check!(basic('grafana', 'hunter2-but-longer')), false);
  t.equal(check!(undefined), false);
  t.end();
});

t.test('metricsAuth configuration errors name the key', async (t) => {
  const pki = await testPki();
  const parse = (metricsAuth: unknown) =>
    gatewayConfigSchema.safeParse(
      testGatewayConfigInput(pki, 'https://127.0.0.1:1/jwks', 'http://127.0.0.1:1', {
        admin: { metricsAuth },
      }),
    );
  const both = parse({ bearerTokenFile: tokenFile, basic: { username: 'p', passwordFile } });
  t.equal(both.success, false);
  t.match(JSON.stringify(both.error?.issues), /exactly one of bearerTokenFile or basic/);
  t.equal(parse({}).success, false);
  t.throws(
    () =>
      metricsAuthorization({
        host: '127.0.0.1',
        port: 0,
        metricsAuth: { bearerTokenFile: path.join(secrets, 'missing') },
      }),
    /admin\.metricsAuth\.bearerTokenFile/,
  );
});
