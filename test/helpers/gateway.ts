/**
 * A whole gateway under test: test PKI, HTTPS JWKS server with a signing key, echo upstream and the
 * gateway itself on ephemeral ports, with its log lines captured. Everything is closed on teardown.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { gatewayConfigSchema, type GatewayConfig } from '../../src/gateway/config.js';
import { startGateway, type GatewayHandle } from '../../src/gateway/server.js';
import { startEchoUpstream, type EchoUpstream } from './echo-upstream.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';
import { fetchText, metricValue } from './metrics-text.js';
import { testPki, type TestCredential, type TestPki } from './pki.js';
import { mtlsRequest, type MtlsRequestOptions, type TestResponse } from './tls-client.js';
import {
  createSigningKey,
  mintAccessToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  type SigningKey,
  type TokenOptions,
} from './tokens.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface GatewayFixture {
  pki: TestPki;
  key: SigningKey;
  jwks: JwksServer;
  upstream: EchoUpstream;
  gateway: GatewayHandle;
  config: GatewayConfig;
  /** Parsed log lines the gateway wrote. */
  logs: Record<string, unknown>[];
  /** Raw log output (to assert that no token or certificate is ever logged). */
  logText(): string;
  /** A token signed by the fixture's key, bound to `bindTo` (client A by default). */
  token(o?: TokenOptions & { bindTo?: TestCredential | null }): Promise<string>;
  /** One request over a fresh mTLS connection as client A (or `client`), with an optional bearer token. */
  request(o?: Partial<MtlsRequestOptions> & { token?: string }): Promise<TestResponse>;
  metricsText(): Promise<string>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export const DEFAULT_ROUTES = [
  { path: '/accounts', methods: ['GET', 'POST'], scopes: ['accounts'] },
  { path: '/payments', methods: ['POST'], scopes: ['payments'] },
  { path: '/admin', methods: ['GET'], scopes: ['admin'] },
];

/** Schema input for a gateway on ephemeral ports (overrides are merged one level deep). */
export function testGatewayConfigInput(
  pki: TestPki,
  jwksUri: string,
  upstreamUrl: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const base: Record<string, unknown> = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
    upstream: { url: upstreamUrl, timeoutMs: 5000 },
    tokens: {
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      jwksUri,
      jwksCa: pki.ca.certFile,
      algorithms: ['PS256', 'ES256'],
      clockSkewSeconds: 5,
      jwksCooldownSeconds: 30,
    },
    routes: DEFAULT_ROUTES,
    logging: { level: 'info' },
    shutdown: { drainTimeoutMs: 5000, graceSeconds: 0 },
  };
  for (const [k, v] of Object.entries(overrides)) {
    const b = base[k];
    base[k] =
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      typeof b === 'object' &&
      b !== null &&
      !Array.isArray(b)
        ? { ...b, ...v }
        : v;
  }
  return base;
}

/** What every gateway under test talks to. */
export interface GatewayPeers {
  pki: TestPki;
  /** The issuer's PS256 signing key, published by `jwks`. */
  key: SigningKey;
  jwks: JwksServer;
  upstream: EchoUpstream;
}

/**
 * Test PKI, a signing key served by an HTTPS JWKS server and an echo upstream, closed on teardown: the
 * peers of a gateway started in-process (`startGatewayFixture`) or as a process (`startGatewayProcessFixture`).
 */
export async function startGatewayPeers(t: Teardown): Promise<GatewayPeers> {
  const pki = await testPki();
  const key = await createSigningKey('PS256');
  const jwks = await startJwksServer(pki, [key.publicJwk]);
  t.teardown(() => jwks.close());
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  return { pki, key, jwks, upstream };
}

export async function startGatewayFixture(
  t: Teardown,
  overrides: Record<string, unknown> = {},
  options: { waitForReady?: boolean; defaultMetrics?: boolean; clock?: () => number } = {},
): Promise<GatewayFixture> {
  const { pki, key, jwks, upstream } = await startGatewayPeers(t);
  const config = gatewayConfigSchema.parse(testGatewayConfigInput(pki, jwks.url, upstream.url, overrides));
  let raw = '';
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const s = chunk.toString('utf8');
      raw += s;
      for (const line of s.split('\n'))
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const gateway = await startGateway(config, {
    logger,
    defaultMetrics: options.defaultMetrics ?? false,
    clock: options.clock,
  });
  t.teardown(() => gateway.close());
  if (options.waitForReady !== false) await gateway.whenReady();
  const fixture: GatewayFixture = {
    pki,
    key,
    jwks,
    upstream,
    gateway,
    config,
    logs,
    logText: () => raw,
    token: (o = {}) => {
      const bindTo = o.bindTo === undefined ? pki.clientA : o.bindTo;
      return mintAccessToken(key, { ...o, thumbprint: o.thumbprint ?? bindTo?.thumbprint });
    },
    request: (o = {}) => {
      const headers: Record<string, string | string[]> = { ...o.headers };
      if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
      return mtlsRequest({
        port: gateway.listenPort,
        caPem: pki.ca.certPem,
        client: pki.clientA,
        path: '/accounts',
        ...o,
        headers,
      });
    },
    metricsText: async () => (await fetchText(gateway.adminPort, '/metrics')).body,
    metric: async (name, labels) => metricValue(await fixture.metricsText(), name, labels) ?? 0,
  };
  return fixture;
}
