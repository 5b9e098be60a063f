/**
 * DEVELOPMENT ONLY: a throw-away PKI, a JWKS endpoint and certificate-bound access tokens, so the gateway
 * can be tried before a real authorization server is in place (the README's quickstart uses it). Nothing
 * here is fit for production: the signing key sits unencrypted in a folder and tokens are minted for
 * whatever the caller asks.
 */
import https from 'node:https';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { X509Certificate, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { createCa, issueCertificate, type IssuedCertificate } from '../pki/certificates.js';
import { certificateThumbprint } from '../pki/thumbprint.js';
import { UsageError, stringOption, type Command, type ParsedCommandArgs } from './command.js';

const DEFAULT_DIR = 'dev-pki';
const DEFAULT_ISSUER = 'https://localhost:8444';
const DEFAULT_AUDIENCE = 'https://api.example';
const SIGNING_KEY_FILE = 'signing-key.jwk.json';
const SIGNING_ALG = 'ES256';

function write(dir: string, name: string, content: string, mode = 0o644): string {
  const file = path.join(dir, name);
  writeFileSync(file, content, { mode });
  return file;
}

function writeCredential(dir: string, name: string, c: IssuedCertificate): void {
  write(dir, `${name}.pem`, c.certPem);
  write(dir, `${name}-key.pem`, c.keyPem, 0o600);
}

async function init(dir: string): Promise<number> {
  if (existsSync(path.join(dir, SIGNING_KEY_FILE))) {
    throw new UsageError(`${dir} already holds a development PKI (remove the folder to make a new one)`);
  }
  mkdirSync(dir, { recursive: true });
  const ca = await createCa({ subject: 'CN=fapi-gateway DEVELOPMENT CA,O=fapi-gateway dev' });
  const server = await issueCertificate(ca, {
    subject: 'CN=localhost',
    usage: 'server',
    dns: ['localhost'],
    ips: ['127.0.0.1', '::1'],
  });
  const clientA = await issueCertificate(ca, { subject: 'CN=client-a,O=fapi-gateway dev', usage: 'client' });
  const clientB = await issueCertificate(ca, { subject: 'CN=client-b,O=fapi-gateway dev', usage: 'client' });
  write(dir, 'ca.pem', ca.certPem);
  writeCredential(dir, 'server', server);
  writeCredential(dir, 'client-a', clientA);
  writeCredential(dir, 'client-b', clientB);
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' };
  write(dir, SIGNING_KEY_FILE, JSON.stringify(privateJwk, null, 2) + '\n', 0o600);
  write(dir, 'jwks.json', JSON.stringify({ keys: [publicJwk] }, null, 2) + '\n');
  process.stdout.write(
    [
      `DEVELOPMENT ONLY: test PKI and token signing key written to ${dir}/`,
      '  ca.pem                          CA of the server and client certificates',
      '  server.pem, server-key.pem      server certificate for localhost / 127.0.0.1',
      '  client-a.pem, client-a-key.pem  client A',
      '  client-b.pem, client-b-key.pem  client B',
      `  ${SIGNING_KEY_FILE}             token signing key (${SIGNING_ALG}); jwks.json: its public half`,
      '',
    ].join('\n'),
  );
  return 0;
}

function readFileOrFail(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${what} ${file} (run \`fapi-gateway dev-token init\` first)`);
  }
}

async function serveJwks(dir: string, args: ParsedCommandArgs): Promise<number> {
  const jwks = readFileOrFail(path.join(dir, 'jwks.json'), 'the JWKS');
  const host = stringOption(args, 'host') ?? '127.0.0.1';
  const port = Number(stringOption(args, 'port') ?? '8444');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
  const server = https.createServer(
    {
      cert: readFileOrFail(path.join(dir, 'server.pem'), 'the server certificate'),
      key: readFileOrFail(path.join(dir, 'server-key.pem'), 'the server key'),
    },
    (req, res) => {
      if ((req.url ?? '').split('?')[0] !== '/jwks') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
      res.end(jwks);
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  process.stdout.write(
    `DEVELOPMENT ONLY: serving ${dir}/jwks.json at https://localhost:${actual}/jwks (Ctrl-C stops)\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

async function mint(dir: string, args: ParsedCommandArgs): Promise<number> {
  const certFile = stringOption(args, 'cert');
  if (certFile === undefined)
    throw new UsageError('mint needs --cert FILE (the client certificate the token is bound to)');
  let der: Buffer;
  try {
    der = new X509Certificate(readFileSync(certFile)).raw;
  } catch {
    throw new UsageError(`--cert ${certFile} is not a readable PEM certificate`);
  }
  const jwk = JSON.parse(readFileOrFail(path.join(dir, SIGNING_KEY_FILE), 'the signing key')) as JWK;
  const key = await importJWK(jwk, jwk.alg);
  const ttl = Number(stringOption(args, 'ttl') ?? '3600');
  if (!Number.isInteger(ttl) || ttl < 1) throw new UsageError('--ttl must be a positive number of seconds');
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    client_id:
      stringOption(args, 'client-id') ??
      new X509Certificate(readFileSync(certFile)).subject.match(/CN=([^\n,]+)/)?.[1] ??
      'dev-client',
    scope: stringOption(args, 'scope') ?? 'accounts',
    // RFC 8705 §3.1: the token is bound to this certificate.
    cnf: { 'x5t#S256': certificateThumbprint(der) },
  })
    .setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid, typ: 'at+jwt' })
    .setIssuer(stringOption(args, 'issuer') ?? DEFAULT_ISSUER)
    .setAudience(stringOption(args, 'audience') ?? DEFAULT_AUDIENCE)
    .setSubject(stringOption(args, 'subject') ?? 'dev-user')
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .setJti(randomUUID())
    .sign(key);
  process.stdout.write(token + '\n');
  return 0;
}

export const devTokenCommand: Command = {
  name: 'dev-token',
  summary:
    'DEVELOPMENT ONLY: make a test PKI (init), serve its JWKS (serve-jwks), mint a bound token (mint).',
  usage:
    'init|serve-jwks|mint [--dir DIR] [--host H --port P] [--cert FILE --scope S --client-id C --subject S --issuer I --audience A --ttl SECONDS]',
  options: {
    dir: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    cert: { type: 'string' },
    scope: { type: 'string' },
    'client-id': { type: 'string' },
    subject: { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
    ttl: { type: 'string' },
  },
  positionals: 1,
  run(args) {
    const dir = stringOption(args, 'dir') ?? DEFAULT_DIR;
    switch (args.positionals[0]) {
      case 'init':
        return init(dir);
      case 'serve-jwks':
        return serveJwks(dir, args);
      case 'mint':
        return mint(dir, args);
      default:
        throw new UsageError(`dev-token: unknown action "${args.positionals[0]}" (init, serve-jwks or mint)`);
    }
  },
};
