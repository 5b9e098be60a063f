import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { startGatewayFixture, testGatewayConfigInput } from '../helpers/gateway.js';
import { ecServerCredential } from '../helpers/odd-certificates.js';
import { testPki } from '../helpers/pki.js';
import { tlsHandshake } from '../helpers/tls-client.js';
import { renegotiationAllowed } from '../helpers/tls-probes.js';

const RSA_SUITES = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
];
const ECDSA_SUITES = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384'];

for (const kind of ['rsa', 'ec'] as const) {
  t.test(`with an ${kind === 'rsa' ? 'RSA' : 'ECDSA P-256'} server certificate`, async (t) => {
    const pki = await testPki();
    const server = kind === 'rsa' ? pki.server : await ecServerCredential(pki);
    const f = await startGatewayFixture(t, { tls: { cert: server.certFile, key: server.keyFile } });
    const port = f.gateway.listenPort;
    const caPem = pki.ca.certPem;
    const cipherFailures = () => f.metric('fapi_gateway_tls_handshake_failures_total', { reason: 'cipher' });

    await t.test('TLS 1.3 completes', async (t) => {
      const r = await tlsHandshake({ port, caPem, client: pki.clientA });
      t.ok(r.ok, r.error ?? 'handshake completed');
      t.equal(r.protocol, 'TLSv1.3');
    });
    await t.test('TLS 1.2 with the client’s default offer completes', async (t) => {
      const r = await tlsHandshake({ port, caPem, client: pki.clientA, options: { maxVersion: 'TLSv1.2' } });
      t.ok(r.ok, r.error ?? 'handshake completed');
      t.equal(r.protocol, 'TLSv1.2');
      t.equal(await cipherFailures(), 0);
    });
    const [usable, unusable] = kind === 'rsa' ? [RSA_SUITES, ECDSA_SUITES] : [ECDSA_SUITES, RSA_SUITES];
    for (const cipher of usable) {
      await t.test(`TLS 1.2 with ${cipher} completes`, async (t) => {
        const r = await tlsHandshake({
          port,
          caPem,
          client: pki.clientA,
          options: { maxVersion: 'TLSv1.2', ciphers: cipher },
        });
        t.ok(r.ok, r.error ?? 'handshake completed');
        t.equal(r.cipher, cipher);
      });
    }
    for (const cipher of [...unusable, 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-ECDSA-AES128-SHA256']) {
      await t.test(`TLS 1.2 offering only ${cipher}: refused as cipher`, async (t) => {
        const before = await cipherFailures();
        const r = await tlsHandshake({
          port,
          caPem,
          client: pki.clientA,
          options: { maxVersion: 'TLSv1.2', ciphers: cipher },
        });
        t.notOk(r.ok);
        t.equal(await cipherFailures(), before + 1);
      });
    }
    await t.test('TLS 1.2 renegotiation is refused', async (t) => {
      const r = await renegotiationAllowed({ port, caPem, client: pki.clientA });
      t.ok(r.connected);
      t.notOk(r.renegotiated);
    });
    t.equal(f.upstream.hits, 0, 'no handshake test reached the upstream');
  });
}

t.test('a server key FAPI has no TLS 1.2 suite for stops the start, naming tls.key', async (t) => {
  const pki = await testPki();
  const keys = {
    'an Ed25519 key': generateKeyPairSync('ed25519').privateKey,
    'an RSA key of 1024 bits': generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey,
    'an EC key on secp256k1': generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey,
  };
  for (const [what, key] of Object.entries(keys)) {
    const keyFile = pki.write(
      `odd-server-key-${what.replace(/\W+/g, '-')}.pem`,
      key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    const config = gatewayConfigSchema.parse(
      testGatewayConfigInput(pki, 'https://127.0.0.1:1/jwks', 'http://127.0.0.1:1', {
        tls: { cert: pki.server.certFile, key: keyFile },
      }),
    );
    await t.rejects(startGateway(config, { defaultMetrics: false }), {
      name: 'StartupError',
      key: 'tls.key',
      message: new RegExp(
        `^tls\\.key: .* holds ${what}.*use an RSA \\(at least 2048 bits\\) or ECDSA P-256/P-384 key`,
      ),
    });
  }
});
