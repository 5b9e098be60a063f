/**
 * The whole system on one machine (what `npm start` runs): the development PKI, the token issuer, the
 * gateway and the sample banking API behind it, and the exact curl commands that show a
 * certificate-bound token being used and refused. Ports come from one base (or are all ephemeral with
 * base 0, for tests); the commands printed name the ports actually bound.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import pino from 'pino';
import { gatewayConfigSchema } from '../gateway/config.js';
import { startGateway, type GatewayHandle } from '../gateway/server.js';
import { issuerConfigSchema } from '../issuer/config.js';
import { startIssuer, type RunningIssuer } from '../issuer/server.js';
import { DEV_ISSUER_SIGNING_KID, createDevPki, devPkiPaths, type DevPkiPaths } from '../pki/dev-pki.js';
import { startBankApi, type BankApi } from './bank-api.js';
import {
  CIBA_DEMO_USER,
  cibaDemoClients,
  cibaWalkthrough,
  renderCibaWalkthrough,
  startNotificationReceiver,
  type CibaWalkthroughStep,
  type NotificationReceiver,
} from './ciba-demo.js';

export interface DemoOptions {
  /** Folder of the development PKI; created when absent. */
  pkiDir: string;
  /** gateway = base, issuer = base+1, issuer mTLS = base+2, bank API = base+3, admins = base+4/+5, CIBA notification endpoint = base+6; 0 = ephemeral. */
  portBase: number;
  logLevel?: string;
  /** Paths in the printed commands are relative to this folder (the user's shell). */
  cwd?: string;
}

export interface DemoStep {
  title: string;
  /** What the reader should see. */
  expect: string;
  command: string;
}

export interface DemoSection {
  title: string;
  steps: DemoStep[];
}

export interface RunningDemo {
  issuer: RunningIssuer;
  gateway: GatewayHandle;
  bank: BankApi;
  pki: DevPkiPaths;
  pkiCreated: boolean;
  sections: DemoSection[];
  /** The CIBA walkthrough (issue 7) and the demo client's notification endpoint. */
  ciba: { sections: { title: string; steps: CibaWalkthroughStep[] }[]; receiver: NotificationReceiver };
  close(): Promise<void>;
}

export const DEMO_DEFAULT_PORT_BASE = 8443;
export const DEMO_AUDIENCE = 'https://api.example';

/** The issuer's clients in the demo (the same as config/issuer.example.yaml). */
function demoClients(p: DevPkiPaths) {
  return [
    {
      clientId: 'acme-tls',
      authMethod: 'tls_client_auth',
      tlsClientAuthSubjectDn: 'CN=acme-tls,O=Acme',
      scopes: ['accounts', 'payments'],
    },
    {
      clientId: 'other-tls',
      authMethod: 'tls_client_auth',
      tlsClientAuthSubjectDn: 'CN=other-tls,O=Other Corp',
      scopes: ['accounts'],
    },
    {
      clientId: 'acme-self-signed',
      authMethod: 'self_signed_tls_client_auth',
      jwksFile: p.selfSignedJwks,
      scopes: ['accounts'],
    },
    {
      clientId: 'acme-jwt',
      authMethod: 'private_key_jwt',
      jwksFile: p.jwtJwks,
      scopes: ['accounts', 'payments'],
    },
  ];
}

async function ensurePki(dir: string): Promise<{ paths: DevPkiPaths; created: boolean }> {
  const paths = devPkiPaths(dir);
  const present = Object.values(paths).filter((p) => existsSync(p));
  if (present.length === Object.values(paths).length) return { paths, created: false };
  if (present.length > 0)
    throw new Error(
      `${dir} holds an incomplete or different PKI (${path.basename(present[0]!)} exists but not every file): remove it, or run \`fapi-gateway pki init --out ${dir} --force\``,
    );
  return { paths: await createDevPki(dir), created: true };
}

const port = (base: number, offset: number) => (base === 0 ? 0 : base + offset);

/** Single-quotes a word for POSIX shells when it needs it. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const level = options.logLevel ?? 'warn';
  const logger: Logger = pino({ level, base: { component: 'demo' } });
  const { paths, created } = await ensurePki(options.pkiDir);
  const base = options.portBase;
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  try {
    const bank = await startBankApi({ host: '127.0.0.1', port: port(base, 3) });
    closers.push(() => bank.close());
    const receiver = await startNotificationReceiver({
      host: '127.0.0.1',
      port: port(base, 6),
      certFile: paths.issuerCert,
      keyFile: paths.issuerKey,
    });
    closers.push(() => receiver.close());
    const issuerConfig = issuerConfigSchema.parse({
      issuer: `https://localhost:${port(base, 1)}`,
      listen: { host: '127.0.0.1', port: port(base, 1) },
      mtls: { host: '127.0.0.1', port: port(base, 2) },
      admin: { host: '127.0.0.1', port: port(base, 5) },
      tls: { cert: paths.issuerCert, key: paths.issuerKey, clientCa: paths.caCert },
      signingKeys: [{ file: paths.issuerSigningKey, alg: 'PS256', kid: DEV_ISSUER_SIGNING_KID }],
      accessTokens: { audience: DEMO_AUDIENCE, ttlSeconds: 600 },
      clients: [...demoClients(paths), ...cibaDemoClients(paths, receiver.url)],
      users: [CIBA_DEMO_USER],
      ciba: {
        expiresInSeconds: 300,
        intervalSeconds: 2,
        devicePath: '/device',
        notificationCa: paths.caCert,
      },
      logging: { level },
    });
    const issuer = await startIssuer(issuerConfig, { logger: logger.child({ component: 'issuer' }) });
    closers.push(() => issuer.close());
    const gatewayConfig = gatewayConfigSchema.parse({
      listen: { host: '127.0.0.1', port: port(base, 0) },
      admin: { host: '127.0.0.1', port: port(base, 4) },
      tls: { cert: paths.gatewayCert, key: paths.gatewayKey, clientCa: paths.gatewayClientCas },
      upstream: { url: bank.url },
      tokens: {
        issuer: issuer.url,
        audience: DEMO_AUDIENCE,
        jwksUri: `${issuer.url}/jwks`,
        jwksCa: paths.caCert,
      },
      routes: [
        { path: '/accounts', methods: ['GET'], scopes: ['accounts'] },
        { path: '/payments', methods: ['GET', 'POST'], scopes: ['payments'] },
      ],
      logging: { level },
    });
    const gateway = await startGateway(gatewayConfig, { logger: logger.child({ component: 'gateway' }) });
    closers.push(() => gateway.close());
    await gateway.whenReady();
    const sections = demoSections(paths, issuer, gateway, options.cwd ?? process.cwd());
    const cibaSections = cibaWalkthrough({
      issuerUrl: issuer.url,
      mtlsUrl: issuer.mtlsUrl,
      gatewayUrl: `https://localhost:${gateway.listenPort}`,
      receiverUrl: receiver.url,
      devicePath: issuerConfig.ciba.devicePath,
      rel: relativeTo(options.cwd ?? process.cwd()),
      paths,
    });
    return {
      issuer,
      gateway,
      bank,
      pki: paths,
      pkiCreated: created,
      sections,
      ciba: { sections: cibaSections, receiver },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** A path as the user's shell in `cwd` should see it (relative when inside it), shell-quoted. */
function relativeTo(cwd: string): (file: string) => string {
  return (file) => {
    const r = path.relative(cwd, file);
    return sh(r.startsWith('..') ? file : r);
  };
}

function demoSections(
  p: DevPkiPaths,
  issuer: RunningIssuer,
  gateway: GatewayHandle,
  cwd: string,
): DemoSection[] {
  const rel = relativeTo(cwd);
  const tls = (cert: string, key: string) =>
    `--cacert ${rel(p.caCert)} --cert ${rel(cert)} --key ${rel(key)}`;
  const acme = tls(p.acmeTlsCert, p.acmeTlsKey);
  const api = `https://localhost:${gateway.listenPort}`;
  const tokenUrl = `${issuer.mtlsUrl}/token`;
  const extractToken = `sed -E 's/.*"access_token":"([^"]+)".*/\\1/'`;
  const status = `-w '\\nHTTP %{http_code}\\n'`;
  return [
    {
      title: 'Certificate-bound access tokens (RFC 8705) through the gateway',
      steps: [
        {
          title: 'Get an access token as acme-tls (tls_client_auth), bound to its certificate',
          expect: 'prints the start of a JWT (eyJ...)',
          command: `TOKEN=$(curl -sS ${acme} -d grant_type=client_credentials -d client_id=acme-tls -d 'scope=accounts payments' ${tokenUrl} | ${extractToken}); echo "token: \${TOKEN:0:24}..."`,
        },
        {
          title: 'Call the banking API through the gateway with the same certificate',
          expect: 'HTTP 200 and the accounts, called for client acme-tls',
          command: `curl -sS ${status} ${acme} -H "Authorization: Bearer $TOKEN" ${api}/accounts`,
        },
        {
          title: 'Make a payment through the gateway',
          expect: 'HTTP 201 and a payment in status AcceptedSettlementInProcess',
          command: `curl -sS ${status} ${acme} -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"fromAccountId":"acc-001","amount":"25.00","creditorIban":"DE89370400440532013000"}' ${api}/payments`,
        },
        {
          title: "Present the same token with another client's certificate (a stolen token)",
          expect: 'HTTP 401 with WWW-Authenticate: Bearer error="invalid_token"; the bank API sees nothing',
          command: `curl -sS -i ${status} ${tls(p.otherTlsCert, p.otherTlsKey)} -H "Authorization: Bearer $TOKEN" ${api}/accounts`,
        },
        {
          title: 'Get a token as acme-self-signed (self_signed_tls_client_auth) and read balances',
          expect: 'HTTP 200 and the balance of acc-001',
          command: `SELF_TOKEN=$(curl -sS ${tls(p.selfSignedCert, p.selfSignedKey)} -d grant_type=client_credentials -d client_id=acme-self-signed ${tokenUrl} | ${extractToken}); curl -sS ${status} ${tls(p.selfSignedCert, p.selfSignedKey)} -H "Authorization: Bearer $SELF_TOKEN" ${api}/accounts/acc-001/balances`,
        },
      ],
    },
  ];
}

/** The text `fapi-gateway demo` prints: the URLs, then every section's commands, ready to copy. */
export function renderDemoInstructions(demo: RunningDemo, pkiDirShown: string): string {
  const lines = [
    '',
    `fapi-gateway demo is running (development PKI in ${pkiDirShown}${demo.pkiCreated ? ', just created' : ''}):`,
    `  gateway          https://localhost:${demo.gateway.listenPort}  (admin http://127.0.0.1:${demo.gateway.adminPort}/metrics)`,
    `  token issuer     ${demo.issuer.url}  (mTLS ${demo.issuer.mtlsUrl}, admin http://127.0.0.1:${demo.issuer.adminPort ?? 0}/metrics)`,
    `  banking API      ${demo.bank.url}  (plain HTTP, behind the gateway)`,
    `  CIBA device page ${demo.issuer.url}/device  (sign in as ${CIBA_DEMO_USER.username} / ${CIBA_DEMO_USER.password}); client notification endpoint ${demo.ciba.receiver.url}`,
    '',
    'Copy and paste these commands into a bash shell in this folder:',
    '# --- copy-paste commands (bash) ---',
  ];
  let n = 0;
  for (const section of demo.sections) {
    lines.push(`# == ${section.title} ==`);
    for (const step of section.steps) {
      n++;
      lines.push(`# ${n}. ${step.title} -> expect: ${step.expect}`, step.command);
    }
  }
  lines.push('# --- end of commands ---');
  lines.push(...renderCibaWalkthrough(demo.ciba.sections));
  lines.push('', 'Press Ctrl-C to stop everything.', '');
  return lines.join('\n');
}
