import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, startGatewayProcess } from '../helpers/gateway-process.js';
import { fetchText } from '../helpers/metrics-text.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** Starts a long-running command and resolves with the first stdout line matching `pattern`. */
function startAndRead(
  args: string[],
  env: NodeJS.ProcessEnv,
  pattern: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = pattern.exec(out);
      if (m) resolve({ child, match: m });
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${out}`)));
  });
}

t.test(
  'the README quickstart: dev PKI, JWKS, example upstream, gateway, A accepted, B refused',
  async (t) => {
    const root = mkdtempSync(path.join(tmpdir(), 'fapi-quickstart-'));
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(path.join(root, 'config'));
    const config = path.join(root, 'config', 'gateway.example.yaml');
    copyFileSync(path.resolve('config/gateway.example.yaml'), config);
    const dir = path.join(root, 'dev-pki');
    const init = spawnSync(process.execPath, [CLI, 'dev-token', 'init', '--dir', dir], { encoding: 'utf8' });
    t.equal(init.status, 0, init.stderr);

    const jwks = await startAndRead(
      [CLI, 'dev-token', 'serve-jwks', '--dir', dir, '--port', '0'],
      {},
      /localhost:(\d+)\/jwks/,
    );
    t.teardown(() => jwks.child.kill('SIGTERM'));
    const upstream = await startAndRead(['examples/upstream.mjs'], { PORT: '0' }, /127\.0\.0\.1:(\d+)/);
    t.teardown(() => upstream.child.kill('SIGTERM'));
    // Ports come from environment overrides, as operators would set them.
    const gw = await startGatewayProcess(
      config,
      {
        FAPI_GATEWAY_LISTEN_PORT: '0',
        FAPI_GATEWAY_ADMIN_PORT: '0',
        FAPI_GATEWAY_TOKENS_JWKS_URI: `https://localhost:${jwks.match[1]}/jwks`,
        FAPI_GATEWAY_UPSTREAM_URL: `http://127.0.0.1:${upstream.match[1]}`,
      },
      t,
    );
    t.teardown(() => gw.child.kill('SIGTERM'));
    for (let i = 0; i < 100 && (await fetchText(gw.adminPort, '/readyz')).status !== 200; i++)
      await sleep(100);

    const mint = spawnSync(
      process.execPath,
      [
        CLI,
        'dev-token',
        'mint',
        '--dir',
        dir,
        '--cert',
        path.join(dir, 'client-a.pem'),
        '--scope',
        'accounts',
      ],
      {
        encoding: 'utf8',
      },
    );
    t.equal(mint.status, 0, mint.stderr);
    const token = mint.stdout.trim();
    const caPem = readFileSync(path.join(dir, 'ca.pem'), 'utf8');
    const client = (name: string) => ({
      certPem: readFileSync(path.join(dir, `${name}.pem`), 'utf8'),
      keyPem: readFileSync(path.join(dir, `${name}-key.pem`), 'utf8'),
    });
    const ok = await mtlsRequest({
      port: gw.listenPort,
      caPem,
      client: client('client-a'),
      path: '/accounts/42',
      headers: { authorization: `Bearer ${token}` },
    });
    t.equal(ok.status, 200, ok.body);
    t.match(ok.json(), {
      message: 'hello from the legacy API',
      clientId: 'client-a',
      scope: 'accounts',
      url: '/accounts/42',
    });
    const stolen = await mtlsRequest({
      port: gw.listenPort,
      caPem,
      client: client('client-b'),
      path: '/accounts/42',
      headers: { authorization: `Bearer ${token}` },
    });
    t.equal(stolen.status, 401);
    t.match(String(stolen.headers['www-authenticate']), /error="invalid_token"/);
    const metrics = (await fetchText(gw.adminPort, '/metrics')).body;
    t.match(metrics, /fapi_gateway_rejections_total\{reason="binding_mismatch",client_id="client-a"\} 1/);
  },
);
