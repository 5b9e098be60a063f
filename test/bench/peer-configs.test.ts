// The benchmark's peers must be valid and must do the job they are compared on: nginx terminates mTLS,
// HAProxy also rejects every token the gateway would reject on signature, exp, iss, aud and binding.
// Servers listen on Unix sockets here (no fixed ports in tests); the bench itself uses TCP.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import https from 'node:https';
import path from 'node:path';
import { generateKeyPair } from 'jose';
import { haproxyConfig, nginxConfig, type ProxyConfigOptions } from '../../bench/configs.js';
import { createBenchPki, mintAccessToken, type BenchPki } from '../../bench/pki.js';
import { createUpstream } from '../../bench/upstream.js';
import { hasCommand } from '../../bench/processes.js';

interface Setup {
  pki: BenchPki;
  runDir: string;
  upstreamPort: number;
  forwarded: () => number;
  base: Omit<ProxyConfigOptions, 'listen'>;
}

async function setup(t: Test): Promise<Setup> {
  // A short folder: Unix socket paths are limited to 107 bytes.
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-bench-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await createBenchPki(dir);
  const runDir = path.join(pki.files.dir, 'run');
  mkdirSync(runDir);
  const upstream = createUpstream();
  let forwarded = 0;
  upstream.on('request', () => forwarded++);
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.teardown(() => void upstream.close());
  upstream.unref();
  const address = upstream.address();
  const upstreamPort = address && typeof address === 'object' ? address.port : 0;
  return {
    pki,
    runDir,
    upstreamPort,
    forwarded: () => forwarded,
    base: {
      upstreamPort,
      serverCert: pki.files.serverCert,
      serverKey: pki.files.serverKey,
      clientCa: pki.files.caCert,
      processes: 1,
      runDir,
    },
  };
}

function haproxyFiles(s: Setup, socket: string) {
  const serverCertAndKey = path.join(s.runDir, 'haproxy-server.pem');
  writeFileSync(serverCertAndKey, s.pki.server.certPem + s.pki.server.keyPem, { mode: 0o600 });
  const file = path.join(s.runDir, 'haproxy.cfg');
  writeFileSync(
    file,
    haproxyConfig({
      ...s.base,
      listen: { socket },
      serverCertAndKey,
      issuerPublicKey: s.pki.files.issuerPublicKey,
    }),
  );
  return file;
}

function nginxFile(s: Setup, socket: string) {
  const file = path.join(s.runDir, 'nginx.conf');
  writeFileSync(file, nginxConfig({ ...s.base, listen: { socket } }));
  return file;
}

async function startServer(t: Test, command: string, args: string[], socket: string) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  t.teardown(async () => {
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(socket)) throw new Error(`${command} did not start: ${stderr}`);
  return child;
}

interface Answer {
  status: number;
  body: string;
  wwwAuthenticate?: string;
  error?: string;
}

function request(socket: string, pki: BenchPki, opts: { token?: string; withCert?: boolean } = {}) {
  return new Promise<Answer>((resolve) => {
    const withCert = opts.withCert ?? true;
    const req = https.get(
      {
        socketPath: socket,
        path: '/accounts',
        servername: 'localhost',
        ca: pki.ca.certPem,
        ...(withCert ? { cert: pki.client.certPem, key: pki.client.keyPem } : {}),
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          const www = res.headers['www-authenticate'];
          resolve({ status: res.statusCode ?? 0, body, ...(www ? { wwwAuthenticate: www } : {}) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: '', error: err.message }));
  });
}

t.test(
  'nginx: the generated configuration passes nginx -t and terminates mTLS',
  { skip: !hasCommand('nginx') && 'nginx is not installed' },
  async (t) => {
    const s = await setup(t);
    const socket = path.join(s.runDir, 'nginx.sock');
    const file = nginxFile(s, socket);
    const check = spawnSync('nginx', ['-t', '-c', file, '-e', path.join(s.runDir, 'nginx-t.log')], {
      encoding: 'utf8',
    });
    t.equal(check.status, 0, check.stderr);
    t.match(check.stderr, /test is successful/);

    await startServer(
      t,
      'nginx',
      ['-c', file, '-e', path.join(s.runDir, 'nginx-error.log'), '-g', 'daemon off;'],
      socket,
    );
    const ok = await request(socket, s.pki);
    t.equal(ok.status, 200);
    t.equal(s.forwarded(), 1);
    const noCert = await request(socket, s.pki, { withCert: false });
    t.equal(noCert.status, 400, 'nginx answers a missing client certificate with HTTP 400');
    t.equal(s.forwarded(), 1, 'nothing forwarded without a client certificate');
  },
);

t.test(
  'HAProxy: the generated configuration passes haproxy -c and enforces the token checks',
  { skip: !hasCommand('haproxy') && 'haproxy is not installed' },
  async (t) => {
    const s = await setup(t);
    const socket = path.join(s.runDir, 'haproxy.sock');
    const file = haproxyFiles(s, socket);
    const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
    t.equal(check.status, 0, check.stdout + check.stderr);
    t.match(check.stdout + check.stderr, /Configuration file is valid/);

    await startServer(t, 'haproxy', ['-f', file, '-db'], socket);
    const good = await mintAccessToken(s.pki);
    const ok = await request(socket, s.pki, { token: good });
    t.equal(ok.status, 200, 'a valid, bound token is forwarded');
    t.equal(s.forwarded(), 1);

    const otherKey = (await generateKeyPair('ES256')).privateKey;
    const [head, payload] = good.split('.');
    const rejected: [string, string | undefined][] = [
      ['no token', undefined],
      ['expired', await mintAccessToken(s.pki, { expiresIn: -10 })],
      ['signed by another key', await mintAccessToken(s.pki, { key: otherKey })],
      ['tampered payload', `${head}.${payload}x.${good.split('.')[2]}`],
      ['wrong issuer', await mintAccessToken(s.pki, { issuer: 'https://attacker.example' })],
      ['wrong audience', await mintAccessToken(s.pki, { audience: 'https://other-api.example' })],
      ['bound to another certificate', await mintAccessToken(s.pki, { thumbprint: 'A'.repeat(43) })],
      ['not certificate-bound', await mintAccessToken(s.pki, { thumbprint: null })],
      ['not a JWT', 'opaque-token-value'],
    ];
    for (const [name, token] of rejected) {
      const answer = await request(socket, s.pki, token ? { token } : {});
      t.equal(answer.status, 401, `${name}: 401`);
      t.match(answer.wwwAuthenticate ?? '', /^Bearer/, `${name}: WWW-Authenticate Bearer`);
    }
    t.equal(s.forwarded(), 1, 'no rejected request reached the upstream');

    const noCert = await request(socket, s.pki, { token: good, withCert: false });
    t.equal(noCert.status, 0, 'no client certificate: the handshake fails');
    t.equal(s.forwarded(), 1);
  },
);
