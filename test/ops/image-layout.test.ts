/**
 * The container image's runtime, without a Docker engine: the runtime stage of the Dockerfile is
 * reproduced in a fresh directory (its own `npm ci --omit=dev` line, the built dist/), the directory is
 * made read-only, and the image's ENTRYPOINT + CMD (tini -> node) run as an unprivileged user. The gateway
 * must serve a certificate-bound request end to end, refuse a stolen token, write nothing, and stop
 * cleanly on SIGTERM delivered to PID "1" (tini).
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { execForm, readDockerfile } from '../helpers/dockerfile.js';
import { repoRoot } from '../helpers/helm.js';
import { startGatewayPeers } from '../helpers/gateway.js';
import { fetchText } from '../helpers/metrics-text.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { mintAccessToken, TEST_AUDIENCE, TEST_ISSUER } from '../helpers/tokens.js';

const NOBODY = 65534;

/** Recursively sets directories to r-x and files to r-- for everyone (root keeps ownership). */
function makeReadOnly(p: string): void {
  const st = statSync(p);
  if (st.isDirectory()) {
    for (const entry of readdirSync(p)) makeReadOnly(path.join(p, entry));
    chmodSync(p, 0o555);
  } else if (st.isFile()) chmodSync(p, 0o444);
}

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const full = path.join(p, e.name);
      const st = statSync(full);
      out.push(`${path.relative(dir, full)} ${st.size} ${st.mtimeMs} ${st.mode.toString(8)}`);
      if (e.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out.sort();
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr }),
    );
  });
}

t.test('the image runtime layout serves a bound request read-only as a non-root user', async (t) => {
  const { stages } = readDockerfile();
  const runtime = stages[stages.length - 1]!;
  const root = mkdtempSync(path.join(tmpdir(), 'fapi-image-'));
  chmodSync(root, 0o755);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const app = path.join(root, 'app');
  mkdirSync(app);

  // COPY package.json package-lock.json ./ ; COPY --from=build /src/dist ./dist
  for (const f of ['package.json', 'package-lock.json']) cpSync(path.join(repoRoot, f), path.join(app, f));
  cpSync(path.join(repoRoot, 'dist'), path.join(app, 'dist'), { recursive: true });

  // The runtime stage's own `npm ci` line (its throwaway --cache is replaced by the warm local cache).
  const runLine = runtime.instructions.find((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args))!.args;
  const npmArgs = /npm (ci[^&]*)/.exec(runLine)![1]!.trim().split(/\s+/);
  const cacheAt = npmArgs.indexOf('--cache');
  if (cacheAt >= 0) npmArgs.splice(cacheAt, 2);
  const npm = await run('npm', [...npmArgs, '--prefer-offline'], app);
  t.equal(npm.code, 0, `npm ${npmArgs.join(' ')}: ${npm.output}`);
  const pkg = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  for (const dep of Object.keys(pkg.dependencies))
    t.ok(existsSync(path.join(app, 'node_modules', dep)), `production dependency ${dep} installed`);
  for (const dep of Object.keys(pkg.devDependencies))
    t.notOk(existsSync(path.join(app, 'node_modules', dep)), `dev dependency ${dep} absent`);
  makeReadOnly(app);
  const before = listing(app);

  // What the chart mounts: configuration (ConfigMap), server certificate and client CA (Secrets).
  const { pki, key, jwks, upstream } = await startGatewayPeers(t);
  const etc = path.join(root, 'etc/fapi-gateway');
  const files = {
    'tls/tls.crt': pki.server.certPem,
    'tls/tls.key': pki.server.keyPem,
    'client-ca/ca.crt': pki.ca.certPem,
    'jwks-ca/ca.crt': pki.ca.certPem,
  };
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(etc, rel)), { recursive: true });
    writeFileSync(path.join(etc, rel), content);
  }
  const configFile = path.join(etc, 'config/gateway.yaml');
  mkdirSync(path.dirname(configFile), { recursive: true });
  writeFileSync(
    configFile,
    stringify({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      tls: { cert: `${etc}/tls/tls.crt`, key: `${etc}/tls/tls.key`, clientCa: `${etc}/client-ca/ca.crt` },
      upstream: { url: upstream.url },
      tokens: {
        issuer: TEST_ISSUER,
        audience: TEST_AUDIENCE,
        jwksUri: jwks.url,
        jwksCa: `${etc}/jwks-ca/ca.crt`,
      },
      routes: [{ path: '/accounts', methods: ['GET'], scopes: ['accounts'] }],
    }),
  );
  makeReadOnly(path.join(root, 'etc'));

  // ENTRYPOINT + CMD of the image, with /app moved to the temporary directory and node resolved.
  const entrypoint = execForm(runtime.instructions.findLast((i) => i.keyword === 'ENTRYPOINT')).map((a) =>
    a === 'node' ? process.execPath : a.replace(/^\/app\//, `${app}/`),
  );
  const cmd = execForm(runtime.instructions.findLast((i) => i.keyword === 'CMD')).map((a) =>
    a === '/etc/fapi-gateway/config/gateway.yaml' ? configFile : a,
  );
  t.same(cmd, ['gateway', '--config', configFile]);
  // `env -i`: the image's environment only (the test runner's NODE_OPTIONS instrumentation stays out).
  // TINI_SUBREAPER gives tini, which is not PID 1 here, the zombie-reaping role it has in the container.
  const imageEnv = [
    `PATH=${process.env.PATH}`,
    'NODE_ENV=production',
    'HOME=/nonexistent',
    'TINI_SUBREAPER=1',
  ];
  const child = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      '--no-new-privs',
      '--',
      'env',
      '-i',
      ...imageEnv,
      ...entrypoint,
      ...cmd,
    ],
    { cwd: app, stdio: 'pipe' },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const ports = await new Promise<{ listen: number; admin: number }>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`no "started" log line in 30 s:\n${output}`)), 30_000);
    const poll = setInterval(() => {
      for (const line of output.split('\n')) {
        if (!line.includes('"event":"started"')) continue;
        const started = JSON.parse(line) as { listen: string; admin: string };
        clearInterval(poll);
        clearTimeout(deadline);
        resolve({
          listen: Number(started.listen.split(':').pop()),
          admin: Number(started.admin.split(':').pop()),
        });
      }
    }, 50);
    void exited.then(() => {
      clearInterval(poll);
      clearTimeout(deadline);
      reject(new Error(`the gateway exited:\n${output}`));
    });
  });

  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  t.match(status, /^Name:\s+tini$/m, 'tini is the entrypoint process');
  for (const pid of readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)) {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    t.match(
      s,
      new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'),
      'node runs as nobody',
    );
    t.match(s, /^NoNewPrivs:\s+1$/m);
  }

  for (let i = 0; i < 200; i++) {
    if ((await fetchText(ports.admin, '/readyz')).status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal((await fetchText(ports.admin, '/readyz')).status, 200, 'ready once the JWKS is loaded');

  const send = async (token: string) =>
    mtlsRequest({
      port: ports.listen,
      caPem: pki.ca.certPem,
      client: pki.clientA,
      path: '/accounts/42',
      headers: { authorization: `Bearer ${token}` },
    });
  const ok = await send(await mintAccessToken(key, { thumbprint: pki.clientA.thumbprint }));
  t.equal(ok.status, 200, ok.body);
  t.equal(ok.json().url, '/accounts/42');
  t.equal(upstream.hits, 1);
  const stolen = await send(await mintAccessToken(key, { thumbprint: pki.clientB.thumbprint }));
  t.equal(stolen.status, 401);
  t.match(String(stolen.headers['www-authenticate']), /error="invalid_token"/);
  t.equal(upstream.hits, 1, 'the stolen token was not forwarded');

  t.same(listing(app), before, 'nothing under the application directory changed');

  child.kill('SIGTERM');
  const exit = await Promise.race([
    exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000)),
  ]);
  t.same(exit, { code: 0, signal: null }, 'SIGTERM to tini drains node and exits 0');
  t.match(output, '"event":"stopped"');
  t.notMatch(output, /Error|EACCES|EROFS|WARN/, `no error on the way out:\n${output.slice(-2000)}`);
});
