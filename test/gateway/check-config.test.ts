import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI } from '../helpers/gateway-process.js';
import { testPki } from '../helpers/pki.js';

const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

t.test(
  'check-config prints an unknown key, a wrong type and a missing file, each with its key path',
  async (t) => {
    const pki = await testPki();
    const file = path.join(pki.dir, 'broken.yaml');
    writeFileSync(
      file,
      [
        'listen: { host: 127.0.0.1, port: 8443 }',
        'tls:',
        `  cert: ${pki.server.certFile}`,
        `  key: ${pki.server.keyFile}`,
        '  clientCa: ./no-such-ca.pem',
        'upstream: { url: "http://127.0.0.1:9000", timeoutMs: "soon" }',
        'tokens:',
        '  issuer: https://issuer.example',
        '  audience: https://api.example',
        '  jwksUri: https://issuer.example/jwks',
        '  jwksCooldownSecond: 30',
        'routes:',
        '  - { path: /accounts, methods: [GET], scopes: [accounts] }',
        '',
      ].join('\n'),
    );
    const r = run('check-config', file);
    t.equal(r.status, 1, r.stdout + r.stderr);
    t.match(r.stdout, /tokens\.jwksCooldownSecond: unknown key/);
    t.match(r.stdout, /upstream\.timeoutMs: .*number/i);
    t.match(r.stdout, /tls\.clientCa: file not found: .*no-such-ca\.pem/);
    t.match(r.stdout, /3 problem\(s\) found/);
  },
);

t.test('the example configuration passes check-config once `dev-token init` made its files', (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'fapi-example-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'config'));
  const example = path.join(root, 'config', 'gateway.example.yaml');
  copyFileSync(path.resolve('config/gateway.example.yaml'), example);
  const before = run('check-config', example);
  t.equal(before.status, 1, 'without the dev PKI the TLS files are reported missing');
  t.match(before.stdout, /tls\.cert: file not found/);
  const init = run('dev-token', 'init', '--dir', path.join(root, 'dev-pki'));
  t.equal(init.status, 0, init.stderr);
  t.match(init.stdout, /DEVELOPMENT ONLY/);
  const after = run('check-config', example);
  t.equal(after.status, 0, after.stdout);
  t.match(after.stdout, /OK \(gateway configuration\)/);
  t.end();
});

t.test('check-config names every tokens.introspection problem with its key path', async (t) => {
  const pki = await testPki();
  const file = path.join(pki.dir, 'introspection-broken.yaml');
  writeFileSync(
    file,
    [
      'tls:',
      `  cert: ${pki.server.certFile}`,
      `  key: ${pki.server.keyFile}`,
      `  clientCa: ${pki.ca.certFile}`,
      'upstream: { url: "http://127.0.0.1:9000" }',
      'tokens:',
      '  issuer: https://issuer.example',
      '  audience: https://api.example',
      '  introspection:',
      '    endpoint: http://issuer.example/introspect',
      '    clientId: fapi-gateway',
      '    auth: { method: tls_client_auth, keyFile: ./k.pem, alg: RS256 }',
      '    timeoutMs: 0',
      'routes:',
      '  - { path: /accounts, methods: [GET], scopes: [accounts] }',
      '',
    ].join('\n'),
  );
  const r = run('check-config', file);
  t.equal(r.status, 1, r.stdout + r.stderr);
  t.match(r.stdout, /tokens\.introspection\.endpoint: must be an https:\/\/ URL/);
  t.match(r.stdout, /tokens\.introspection\.auth\.alg: /);
  t.match(r.stdout, /tokens\.introspection\.timeoutMs: /);
  const fixed = [
    'tls:',
    `  cert: ${pki.server.certFile}`,
    `  key: ${pki.server.keyFile}`,
    `  clientCa: ${pki.ca.certFile}`,
    'upstream: { url: "http://127.0.0.1:9000" }',
    'tokens:',
    '  issuer: https://issuer.example',
    '  audience: https://api.example',
    '  introspection:',
    '    endpoint: https://issuer.example/introspect',
    '    clientId: fapi-gateway',
    '    auth: { method: tls_client_auth, keyFile: ./k.pem }',
    'routes:',
    '  - { path: /accounts, methods: [GET], scopes: [accounts] }',
    '',
  ].join('\n');
  writeFileSync(file, fixed);
  const second = run('check-config', file);
  t.equal(second.status, 1, second.stdout);
  t.match(second.stdout, /tokens\.introspection\.auth\.cert: required with method tls_client_auth/);
  t.match(second.stdout, /tokens\.introspection\.auth\.key: required with method tls_client_auth/);
  t.match(second.stdout, /tokens\.introspection\.auth\.keyFile: not used with method tls_client_auth/);
  writeFileSync(
    file,
    fixed.replace('keyFile: ./k.pem', `cert: ${pki.clientB.certFile}, key: ${pki.clientB.keyFile}`),
  );
  const ok = run('check-config', file);
  t.equal(ok.status, 0, `introspection without jwksUri is a complete configuration: ${ok.stdout}`);
});
