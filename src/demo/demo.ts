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
import {
  DEV_ISSUER_SIGNING_KID,
  completeDevPki,
  createDevPki,
  devPkiPaths,
  type DevPkiPaths,
} from '../pki/dev-pki.js';
import { startBankApi, type BankApi } from './bank-api.js';
import { demoFeatures } from './features/index.js';

export interface DemoOptions {
  /** Folder of the development PKI; created when absent. */
  pkiDir: string;
  /** gateway = base, issuer = base+1, issuer mTLS = base+2, bank API = base+3, admins = base+4/+5, features base+6..; 0 = ephemeral. */
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

/** What a demo feature gets once the servers run. */
export interface DemoContext {
  paths: DevPkiPaths;
  issuer: RunningIssuer;
  gateway: GatewayHandle;
  bank: BankApi;
  /** A path as the printed commands should show it (relative to the user's folder when inside it). */
  shellPath: (file: string) => string;
  /** The port for `offset` from the demo's port base (0 when ports are ephemeral); features use offsets >= 6. */
  port(offset: number): number;
  logger: Logger;
}

/**
 * One part of the demo (see features/index.ts): the issuer clients and settings it needs, and what it
 * starts and prints once everything runs (the customer journey and CIBA are features).
 */
export interface DemoFeature {
  name: string;
  /** Issuer clients this feature registers (schema input, merged before the issuer starts). */
  issuerClients?(paths: DevPkiPaths): Record<string, unknown>[];
  /** Top-level issuer configuration keys this feature sets (e.g. `users`, `ciba`). */
  issuerConfig?(paths: DevPkiPaths): Record<string, unknown>;
  /**
   * Runs before the issuer starts, for servers whose URL the issuer registration needs (a relying
   * party's redirect_uri); resolves a function that stops them.
   */
  prepare?(context: DemoPrepareContext): Promise<() => Promise<void>>;
  start(context: DemoContext): Promise<{
    sections: DemoSection[];
    /** Pages to open in a browser, printed next to the servers' URLs. */
    links?: DemoLink[];
    /** Further printed blocks after the commands (a walkthrough with browser steps, e.g. CIBA's). */
    text?: string[];
    close?: () => Promise<void>;
  }>;
}

export interface DemoPrepareContext {
  paths: DevPkiPaths;
  port: (offset: number) => number;
}

export interface DemoLink {
  name: string;
  url: string;
  note: string;
}

export interface RunningDemo {
  issuer: RunningIssuer;
  gateway: GatewayHandle;
  bank: BankApi;
  pki: DevPkiPaths;
  pkiCreated: boolean;
  sections: DemoSection[];
  links: DemoLink[];
  /** The features' further printed blocks. */
  text: string[];
  close(): Promise<void>;
}

export const DEMO_DEFAULT_PORT_BASE = 8443;
export const DEMO_AUDIENCE = 'https://api.example';
export const DEMO_GATEWAY_CLIENT_ID = 'fapi-gateway';

/** The gateway as a client of the issuer: a resource server that introspects any token (RFC 7662 §4). */
function gatewayClient(): Record<string, unknown> {
  return {
    clientId: DEMO_GATEWAY_CLIENT_ID,
    authMethod: 'tls_client_auth',
    tlsClientAuthSubjectDn: 'CN=fapi-gateway,O=fapi-gateway development',
    introspection: true,
  };
}

async function ensurePki(dir: string): Promise<{ paths: DevPkiPaths; created: boolean }> {
  const paths = devPkiPaths(dir);
  const present = Object.values(paths).filter((p) => existsSync(p));
  if (present.length > 0 && (await completeDevPki(dir))) return { paths, created: false };
  if (present.length > 0)
    throw new Error(
      `${dir} holds an incomplete or different PKI (${path.basename(present[0]!)} exists but not every file): remove it, or run \`fapi-gateway pki init --out ${dir} --force\``,
    );
  return { paths: await createDevPki(dir), created: true };
}

const port = (base: number, offset: number) => (base === 0 ? 0 : base + offset);

/**
 * End-users of every feature (the customer journey and CIBA both sign in alice): one
 * record per username, later features adding to earlier ones (they must agree on the password).
 */
function mergedUsers(configs: Record<string, unknown>[]): Record<string, unknown>[] {
  const byName = new Map<string, Record<string, unknown>>();
  for (const config of configs) {
    const users = Array.isArray(config['users']) ? (config['users'] as Record<string, unknown>[]) : [];
    for (const user of users) {
      const name = String(user['username']);
      byName.set(name, { ...byName.get(name), ...user });
    }
  }
  return [...byName.values()];
}

/** Single-quotes a word for POSIX shells when it needs it. */
export function shellWord(word: string): string {
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
    for (const feature of demoFeatures) {
      const stop = await feature.prepare?.({ paths, port: (offset) => port(base, offset) });
      if (stop) closers.push(stop);
    }
    const featureConfigs = demoFeatures.map((f) => f.issuerConfig?.(paths) ?? {});
    const issuerConfig = issuerConfigSchema.parse({
      issuer: `https://localhost:${port(base, 1)}`,
      listen: { host: '127.0.0.1', port: port(base, 1) },
      mtls: { host: '127.0.0.1', port: port(base, 2) },
      admin: { host: '127.0.0.1', port: port(base, 5) },
      tls: { cert: paths.issuerCert, key: paths.issuerKey, clientCa: paths.caCert },
      signingKeys: [{ file: paths.issuerSigningKey, alg: 'PS256', kid: DEV_ISSUER_SIGNING_KID }],
      accessTokens: { audience: DEMO_AUDIENCE, ttlSeconds: 600 },
      clients: [gatewayClient(), ...demoFeatures.flatMap((f) => f.issuerClients?.(paths) ?? [])],
      logging: { level },
      ...Object.assign({}, ...featureConfigs),
      users: mergedUsers(featureConfigs),
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
        introspection: {
          endpoint: `${issuer.mtlsUrl}/introspect`,
          clientId: DEMO_GATEWAY_CLIENT_ID,
          auth: { method: 'tls_client_auth', cert: paths.gatewayClientCert, key: paths.gatewayClientKey },
          // No cache, so that a revocation shows on the very next call of the walkthrough; with the
          // default (60) a revoked token keeps working for up to a minute.
          cacheMaxSeconds: 0,
          negativeCacheSeconds: 0,
        },
      },
      routes: [
        // Certificate-bound and DPoP-bound tokens alike (the DPoP walkthrough calls it without a certificate).
        { path: '/accounts', methods: ['GET'], scopes: ['accounts'], binding: 'any' },
        { path: '/payments', methods: ['GET', 'POST'], scopes: ['payments'] },
      ],
      logging: { level },
    });
    const gateway = await startGateway(gatewayConfig, { logger: logger.child({ component: 'gateway' }) });
    closers.push(() => gateway.close());
    await gateway.whenReady();
    const cwd = options.cwd ?? process.cwd();
    const context: DemoContext = {
      paths,
      issuer,
      gateway,
      bank,
      shellPath: (file) => {
        const r = path.relative(cwd, file);
        return shellWord(r.startsWith('..') ? file : r);
      },
      port: (offset) => port(base, offset),
      logger,
    };
    const sections: DemoSection[] = [];
    const links: DemoLink[] = [];
    const text: string[] = [];
    for (const feature of demoFeatures) {
      const started = await feature.start(context);
      sections.push(...started.sections);
      links.push(...(started.links ?? []));
      text.push(...(started.text ?? []));
      const stop = started.close;
      if (stop) closers.push(() => stop());
    }
    return {
      issuer,
      gateway,
      bank,
      pki: paths,
      pkiCreated: created,
      sections,
      links,
      text,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** The text `fapi-gateway demo` prints: the URLs, then every section's commands, ready to copy. */
export function renderDemoInstructions(demo: RunningDemo, pkiDirShown: string): string {
  const lines = [
    '',
    `fapi-gateway demo is running (development PKI in ${pkiDirShown}${demo.pkiCreated ? ', just created' : ''}):`,
    `  gateway          https://localhost:${demo.gateway.listenPort}  (admin http://127.0.0.1:${demo.gateway.adminPort}/metrics)`,
    `  token issuer     ${demo.issuer.url}  (mTLS ${demo.issuer.mtlsUrl}, admin http://127.0.0.1:${demo.issuer.adminPort ?? 0}/metrics)`,
    `  banking API      ${demo.bank.url}  (plain HTTP, behind the gateway)`,
    ...demo.links.map((l) => `  ${l.name.padEnd(16)} ${l.url}  (${l.note})`),
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
  lines.push('# --- end of commands ---', ...demo.text, '', 'Press Ctrl-C to stop everything.', '');
  return lines.join('\n');
}
