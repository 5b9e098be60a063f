import t from 'tap';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { startTestIssuer } from '../helpers/issuer.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function handshake(
  port: number,
  options: tls.ConnectionOptions,
): Promise<{ ok: boolean; protocol?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
      const protocol = socket.getProtocol() ?? undefined;
      socket.end();
      resolve({ ok: true, protocol });
    });
    socket.on('error', () => resolve({ ok: false }));
  });
}

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

t.test(
  'FAPI TLS policy: TLS 1.2 only with the FAPI suites, TLS 1.3 accepted; refusals counted',
  async (t) => {
    const ti = await startTestIssuer();
    t.teardown(() => ti.close());
    const port = Number(new URL(ti.issuer.mtlsUrl).port);
    const ca = ti.pki.ca.certPem;
    t.match(await handshake(port, { ca }), { ok: true, protocol: 'TLSv1.3' });
    t.match(await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' }), {
      ok: true,
      protocol: 'TLSv1.2',
    });
    t.match(
      await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' }),
      { ok: false },
      'no forward secrecy',
    );
    t.match(
      await handshake(port, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA256' }),
      { ok: false },
      'CBC suite',
    );
    const text = await metrics(ti.issuer.adminPort!);
    t.match(text, /fapi_issuer_tls_handshake_failures_total\{listener="mtls",reason="cipher"\} 2/);
  },
);

t.test(
  '`fapi-gateway issuer --config` starts on the configured ports and stops cleanly on SIGTERM',
  async (t) => {
    const ti = await startTestIssuer();
    const { signingKeys, tls: tlsFiles, clients } = ti.config;
    await ti.close();
    const file = ti.pki.write(
      `issuer-cli-${randomBytes(3).toString('hex')}.json`,
      JSON.stringify({
        issuer: 'https://localhost:0',
        listen: { host: '127.0.0.1', port: 0 },
        mtls: { host: '127.0.0.1', port: 0 },
        tls: tlsFiles,
        signingKeys,
        accessTokens: { audience: 'https://api.example' },
        clients: clients.filter((c) => c.authMethod === 'tls_client_auth'),
        logging: { level: 'info' },
      }),
    );
    const child = spawn(process.execPath, [CLI, 'issuer', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const m = /^issuer (https:\/\/localhost:\d+) \(mTLS (https:\/\/localhost:\d+)/m.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`issuer exited: ${out}`)));
    });
    const port = Number(new URL(url).port);
    t.match(await handshake(port, { ca: ti.pki.ca.certPem }), { ok: true });
    // The JSON log line and the summary line are written by different streams: wait for both.
    for (let i = 0; i < 100 && !out.includes('"msg":"issuer listening"'); i++)
      await new Promise((r) => setTimeout(r, 50));
    t.match(out, /"msg":"issuer listening"/);
    child.kill('SIGTERM');
    t.equal(await exited, 0);
  },
);

t.test('a port in use stops the start with the key that names it', async (t) => {
  const first = await startTestIssuer();
  t.teardown(() => first.close());
  const taken = Number(new URL(first.issuer.mtlsUrl).port);
  await t.rejects(startTestIssuer({ config: { mtls: { host: '127.0.0.1', port: taken } } }), {
    name: 'ConfigError',
    problems: [
      {
        path: 'mtls.port',
        message: `127.0.0.1:${taken} is already in use: choose another port or stop the process using it`,
      },
    ],
  });
});
