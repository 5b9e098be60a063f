import t from 'tap';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK } from 'jose';
import { ConfigError } from '../../src/config/load.js';
import { issuerConfigSchema } from '../../src/issuer/config.js';
import { prepareIssuer } from '../../src/issuer/startup-checks.js';
import { testPki } from '../helpers/pki.js';

async function baseConfig(clients: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  const pki = await testPki();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const file = path.join(pki.dir, `sk-${randomBytes(3).toString('hex')}.pem`);
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return {
    issuer: 'https://localhost:0',
    tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
    signingKeys: [{ file, alg: 'PS256', kid: 'k1' }],
    accessTokens: { audience: 'https://api.example' },
    clients,
    ...extra,
  };
}

function problemsOf(raw: Record<string, unknown>): string[] {
  try {
    prepareIssuer(issuerConfigSchema.parse(raw));
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

const rsaJwk = async (bits: number) =>
  exportJWK(generateKeyPairSync('rsa', { modulusLength: bits }).publicKey);

t.test('a 1024-bit RSA client key is refused at start with its key path', async (t) => {
  const strong = { clientId: 'ok', authMethod: 'private_key_jwt', jwks: { keys: [await rsaJwk(2048)] } };
  const weak = { clientId: 'weak', authMethod: 'private_key_jwt', jwks: { keys: [await rsaJwk(1024)] } };
  t.same(problemsOf(await baseConfig([strong, strong, weak].map((c, i) => ({ ...c, clientId: `c${i}` })))), [
    'clients[2].jwks: RSA key of 1024 bits; FAPI needs >= 2048',
  ]);
});

t.test('EC keys below P-256, private key material and symmetric keys are refused', async (t) => {
  const p256 = await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
  const secp256k1 = await exportJWK(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey);
  const priv = await exportJWK(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const problems = problemsOf(
    await baseConfig([
      { clientId: 'a', authMethod: 'private_key_jwt', jwks: { keys: [p256, secp256k1] } },
      { clientId: 'b', authMethod: 'private_key_jwt', jwks: { keys: [priv] } },
      {
        clientId: 'c',
        authMethod: 'self_signed_tls_client_auth',
        jwks: { keys: [{ kty: 'oct', k: 'abc' }] },
      },
    ]),
  );
  t.match(problems[0], /^clients\[0\]\.jwks: keys\[1\]: EC key on curve secp256k1; FAPI needs P-256/);
  t.match(problems[1], /^clients\[1\]\.jwks: contains private key material \(d\)/);
  t.match(problems[2], /^clients\[2\]\.jwks: symmetric \(oct\) keys cannot be registered/);
  t.equal(problems.length, 3);
});

t.test('a client_secret_jwt secret under 256 bits of entropy is refused', async (t) => {
  const problems = problemsOf(
    await baseConfig([
      {
        clientId: 'short',
        authMethod: 'client_secret_jwt',
        clientSecret: randomBytes(16).toString('base64url'),
      },
      { clientId: 'repeated', authMethod: 'client_secret_jwt', clientSecret: 'a'.repeat(200) },
      {
        clientId: 'strong',
        authMethod: 'client_secret_jwt',
        clientSecret: randomBytes(32).toString('base64url'),
      },
      { clientId: 'hex', authMethod: 'client_secret_jwt', clientSecret: randomBytes(32).toString('hex') },
    ]),
  );
  t.equal(problems.length, 2, problems.join('\n'));
  t.match(
    problems[0],
    /^clients\[0\]\.clientSecret: about \d+ bits of entropy; client_secret_jwt needs >= 256/,
  );
  t.match(problems[1], /^clients\[1\]\.clientSecret: /);
});

t.test('signing keys: weak RSA, wrong algorithm for the key, unreadable file', async (t) => {
  const pki = await testPki();
  const weak = path.join(pki.dir, 'weak-signing.pem');
  writeFileSync(
    weak,
    generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  const ec = path.join(pki.dir, 'ec-signing.pem');
  writeFileSync(
    ec,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  const raw = await baseConfig([]);
  const problems = problemsOf({
    ...raw,
    signingKeys: [
      { file: weak, alg: 'PS256', kid: 'a' },
      { file: ec, alg: 'PS256', kid: 'b' },
      { file: pki.ca.certFile, alg: 'ES256', kid: 'c' },
    ],
  });
  t.match(problems[0], /^signingKeys\[0\]\.file: RSA key of 1024 bits; FAPI needs >= 2048/);
  t.match(problems[1], /^signingKeys\[1\]\.alg: PS256 needs an RSA key/);
  t.match(problems[2], /^signingKeys\[2\]\.file: cannot read a private key/);
});

t.test('an invalid tlsClientAuthSubjectDn is refused with the reason', async (t) => {
  const problems = problemsOf(
    await baseConfig([
      { clientId: 'a', authMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=a;O=b' },
      { clientId: 'b', authMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'XYZ=a' },
    ]),
  );
  t.match(problems[0], /^clients\[0\]\.tlsClientAuthSubjectDn: not an RFC 4514 DN/);
  t.match(
    problems[1],
    /^clients\[1\]\.tlsClientAuthSubjectDn: not an RFC 4514 DN: unknown attribute type "XYZ"/,
  );
});

t.test('`fapi-gateway issuer` prints every problem and exits 2', async (t) => {
  const raw = await baseConfig([
    { clientId: 'weak', authMethod: 'private_key_jwt', jwks: { keys: [await rsaJwk(1024)] } },
  ]);
  const pki = await testPki();
  const file = pki.write(`issuer-${randomBytes(3).toString('hex')}.json`, JSON.stringify(raw));
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['dist/cli/main.js', 'issuer', '--config', file],
      (err, _out, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr }),
    );
    child.stdin?.end();
  });
  t.equal(code, 2);
  t.match(stderr, /clients\[0\]\.jwks: RSA key of 1024 bits; FAPI needs >= 2048/);
});
