import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPrivateKey } from 'node:crypto';
import { parse } from 'yaml';
import pino from 'pino';
import { issuerConfigSchema } from '../../src/issuer/config.js';
import { startIssuer } from '../../src/issuer/server.js';
import { DEV_JWT_CLIENT_KID, DEV_PKI_FILES, devPkiPaths } from '../../src/pki/dev-pki.js';
import { certificateThumbprint } from '../../src/pki/thumbprint.js';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { ASSERTION_TYPE, clientAssertion, httpsRequest, outcome } from '../helpers/issuer.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../config/issuer.example.yaml', import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

t.test('pki init writes the PKI, refuses to overwrite without --force', async (t) => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'pki-init-')), 'out');
  const first = await cli(['pki', 'init', '--out', dir, '--name', 'bank.example', '--name', '10.0.0.7']);
  t.equal(first.code, 0, first.stderr);
  const paths = devPkiPaths(dir);
  for (const p of Object.values(paths)) t.ok(statSync(p).isFile(), path.relative(dir, p));
  t.equal(statSync(paths.caKey).mode & 0o777, 0o600, 'private keys are owner-only');
  t.equal(statSync(paths.jwtSigningKey).mode & 0o777, 0o600);
  const { X509Certificate } = await import('node:crypto');
  const server = new X509Certificate(readFileSync(paths.issuerCert));
  t.match(server.subjectAltName, /DNS:localhost/);
  t.match(server.subjectAltName, /DNS:bank\.example/);
  t.match(server.subjectAltName, /IP Address:127\.0\.0\.1/);
  t.match(server.subjectAltName, /IP Address:10\.0\.0\.7/);
  t.ok(server.verify(new X509Certificate(readFileSync(paths.caCert)).publicKey), 'issued by the CA');
  const selfSigned = new X509Certificate(readFileSync(paths.selfSignedCert));
  t.ok(selfSigned.verify(selfSigned.publicKey), 'self-signed');

  const caBefore = readFileSync(paths.caCert, 'utf8');
  const again = await cli(['pki', 'init', '--out', dir]);
  t.equal(again.code, 2);
  t.match(again.stderr, /already exists \(use --force/);
  t.equal(readFileSync(paths.caCert, 'utf8'), caBefore, 'nothing overwritten');
  const forced = await cli(['pki', 'init', '--out', dir, '--force']);
  t.equal(forced.code, 0);
  t.not(readFileSync(paths.caCert, 'utf8'), caBefore);
  t.equal((await cli(['pki', 'frobnicate', '--out', dir])).code, 2);
});

t.test(
  'the PKI serves the example issuer configuration and the gateway: every client gets a bound token',
  async (t) => {
    const root = mkdtempSync(path.join(tmpdir(), 'pki-example-'));
    t.equal((await cli(['pki', 'init', '--out', path.join(root, 'dev-pki')])).code, 0);
    // The example configuration, as shipped, placed next to the PKI like in the repository (config/, dev-pki/).
    const configDir = path.join(root, 'config');
    const raw = parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
    Object.assign(raw, {
      issuer: 'https://localhost:0',
      listen: { host: '127.0.0.1', port: 0 },
      mtls: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
    });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(configDir);
    const file = path.join(configDir, 'issuer.yaml');
    writeFileSync(file, JSON.stringify(raw));
    const check = await cli(['check-config', file, '--kind', 'issuer']);
    t.equal(check.code, 0, check.stdout);
    const { loadConfigOrThrow } = await import('../../src/config/load.js');
    const config = loadConfigOrThrow(file, issuerConfigSchema, { envPrefix: 'UNUSED_' });
    const issuer = await startIssuer(config, { logger: pino({ level: 'silent' }) });
    t.teardown(() => issuer.close());

    const p = devPkiPaths(path.join(root, 'dev-pki'));
    const ca = readFileSync(p.caCert, 'utf8');
    const cred = (certFile: string, keyFile: string) => ({
      certPem: readFileSync(certFile, 'utf8'),
      keyPem: readFileSync(keyFile, 'utf8'),
    });
    const token = async (params: Record<string, string>, c: { certPem: string; keyPem: string }) =>
      httpsRequest(`${issuer.mtlsUrl}/token`, {
        ca,
        credential: c as never,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...params }).toString(),
      });
    const { X509Certificate } = await import('node:crypto');
    const bound = (r: Awaited<ReturnType<typeof token>>) =>
      (
        JSON.parse(Buffer.from(r.json.access_token!.split('.')[1]!, 'base64url').toString()) as {
          cnf: { 'x5t#S256': string };
        }
      ).cnf['x5t#S256'];

    const tls = await token({ client_id: 'acme-tls' }, cred(p.acmeTlsCert, p.acmeTlsKey));
    t.equal(tls.status, 200, outcome(tls));
    t.equal(bound(tls), certificateThumbprint(new X509Certificate(readFileSync(p.acmeTlsCert)).raw));
    const other = await token({ client_id: 'acme-tls' }, cred(p.otherTlsCert, p.otherTlsKey));
    t.equal(other.status, 401, "another client's certificate is not acme-tls");
    const self = await token({ client_id: 'acme-self-signed' }, cred(p.selfSignedCert, p.selfSignedKey));
    t.equal(self.status, 200, outcome(self));
    const jwt = await token(
      {
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion({
          clientId: 'acme-jwt',
          audience: issuer.url,
          key: createPrivateKey(readFileSync(p.jwtSigningKey)),
          kid: DEV_JWT_CLIENT_KID,
        }),
      },
      cred(p.jwtCert, p.jwtKey),
    );
    t.equal(jwt.status, 200, outcome(jwt));
    t.equal(bound(jwt), certificateThumbprint(new X509Certificate(readFileSync(p.jwtCert)).raw));
    t.equal(Object.keys(DEV_PKI_FILES).length, Object.keys(p).length);

    // The gateway runs on the same PKI and accepts acme-tls's token with acme-tls's certificate only.
    const upstream = await startEchoUpstream();
    t.teardown(() => upstream.close());
    const gateway = await startGateway(
      gatewayConfigSchema.parse({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        tls: { cert: p.gatewayCert, key: p.gatewayKey, clientCa: p.gatewayClientCas },
        upstream: { url: upstream.url },
        tokens: {
          issuer: issuer.url,
          audience: 'https://api.example',
          jwksUri: `${issuer.url}/jwks`,
          jwksCa: p.caCert,
        },
        routes: [{ path: '/accounts', methods: ['GET'], scopes: ['accounts'] }],
        logging: { level: 'silent' },
      }),
      { logger: pino({ level: 'silent' }), defaultMetrics: false },
    );
    t.teardown(() => gateway.close());
    await gateway.whenReady();
    const call = (c: { certPem: string; keyPem: string }) =>
      httpsRequest(`https://localhost:${gateway.listenPort}/accounts`, {
        ca,
        credential: c as never,
        headers: { authorization: `Bearer ${tls.json.access_token!}` },
      });
    t.equal((await call(cred(p.acmeTlsCert, p.acmeTlsKey))).status, 200);
    t.equal((await call(cred(p.otherTlsCert, p.otherTlsKey))).status, 401);
    t.equal(upstream.requests.length, 1);
  },
);
