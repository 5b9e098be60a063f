/**
 * Starts the issuer: the HTTPS listener (the `issuer` URL), the mTLS listener advertised as
 * `mtls_endpoint_aliases` (RFC 8705 §5) and the admin listener.
 *
 * Listener choice (documented in docs/issuer.md): with `mtls` configured, the main listener never asks for a
 * client certificate (browsers and plain clients are not prompted), and the mTLS listener requests one
 * in the initial handshake without requiring it (a private_key_jwt client may connect without one, and a
 * self-signed certificate must get through to be matched). Without `mtls`, the main listener requests
 * (but does not require) a certificate and no aliases are advertised. Every endpoint is served on both
 * listeners; tokens are certificate-bound whenever the connection carries a certificate.
 *
 * A port 0 in the `issuer` URL (or `mtls.baseUrl`) is replaced by the listener's bound port, so tests
 * and the demo can use ephemeral ports.
 */
import type http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { FetchImplementation } from 'jose';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { IssuerConfig } from './config.js';
import { createAdminServer } from './admin.js';
import { hasRepeatedHost, refuseUnparsedRequests } from './client-errors.js';
import { startCiba, stopCiba, type CibaOptions } from './ciba/context.js';
import { endpoints } from './endpoints/index.js';
import { OAuthError } from './errors.js';
import { REQUEST_REFUSED, createIssuerLogger } from './logger.js';
import type { IssuerRequest, ListenerName, Reply } from './http.js';
import { createIssuerMetrics } from './metrics.js';
import { createRouter } from './router.js';
import type { IssuerRuntime, IssuerUrls } from './runtime.js';
import { prepareIssuer } from './startup-checks.js';
import { countRefusal, refusalOf, renderOAuthError } from './steps/render-error.js';
import { createMemoryStorage } from './storage/memory-store.js';
import { createRedisStorage } from './storage/redis-store.js';
import type { IssuerStorage } from './storage/store.js';
import { presentedCertificate } from './tls/client-certificate.js';
import { guardIssuerListener, issuerTlsOptions } from './tls/server-options.js';
import { listenOn } from '../net/listen.js';
import type { RedisConnection } from '../redis/connection.js';
import { connectIssuerRedis } from './redis-connection.js';

export interface IssuerOptions {
  /** Named in configuration errors. */
  configFile?: string;
  logger?: Logger;
  /**
   * Builds the storage instead of the one `storage.type` selects (with the issuer's clock in unix ms),
   * e.g. a store shared with another issuer in a test.
   */
  storage?: (config: IssuerConfig, clock: () => number) => IssuerStorage;
  /**
   * A Redis connection to use instead of the one `storage.redis` opens (closed with the issuer); with it,
   * CIBA ping/push deliveries are queued in Redis.
   */
  redis?: RedisConnection;
  /** Milliseconds since the epoch (tests move time forward with it). */
  clock?: () => number;
  /** fetch for clients' jwks_uri (e.g. one trusting a private CA). */
  fetch?: FetchImplementation;
  /** CIBA notification delivery (tests shorten the retry delays). */
  ciba?: CibaOptions;
}

export interface RunningIssuer {
  /** The issuer identifier (main listener's public URL). */
  url: string;
  /** The mTLS listener's public base URL (equals `url` with one listener). */
  mtlsUrl: string;
  adminPort: number | undefined;
  runtime: IssuerRuntime;
  close(): Promise<void>;
}

/** Binds a listener; a port that cannot be opened is a configuration problem named by its key. */
function listen(server: http.Server, key: string, host: string, port: number, file: string): Promise<number> {
  return listenOn(server, host, port, (why) => new ConfigError(file, [{ path: key, message: why }]));
}

function withPort(base: string, port: number): string {
  const u = new URL(base);
  if (u.port === '0') u.port = String(port);
  return u.toString().replace(/\/$/, '');
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startIssuer(config: IssuerConfig, options: IssuerOptions = {}): Promise<RunningIssuer> {
  const prepared = prepareIssuer(config, { configFile: options.configFile, fetch: options.fetch });
  const log = options.logger ?? createIssuerLogger(config.logging.level);
  const clock = options.clock ?? Date.now;
  const metrics = createIssuerMetrics();
  const redis = options.redis ?? connectIssuerRedis(config, metrics, log);
  const storage =
    options.storage?.(config, clock) ??
    (config.storage.type === 'redis' && redis
      ? createRedisStorage({ clients: config.clients, redis })
      : createMemoryStorage({ clients: config.clients, clock }));
  const router = createRouter(
    endpoints.map((e) => (e.configuredPath ? { ...e, path: e.configuredPath(config) } : e)),
  );

  const separateMtls = config.mtls !== undefined;
  let runtime: IssuerRuntime | undefined;

  const serve = (listener: ListenerName) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!runtime) {
      res.writeHead(503).end();
      return;
    }
    void answer(runtime, listener, req, res);
  };

  const main = https.createServer(issuerTlsOptions(config, !separateMtls), serve('main'));
  const mtls = separateMtls ? https.createServer(issuerTlsOptions(config, true), serve('mtls')) : undefined;
  const admin = config.admin ? createAdminServer(metrics, () => storage.healthy()) : undefined;
  for (const [name, s] of [
    ['main', main],
    ['mtls', mtls],
  ] as const) {
    if (!s) continue;
    guardIssuerListener(s, name, s === mtls || !separateMtls, config, metrics, log);
    s.on('clientError', refuseUnparsedRequests(metrics, log));
  }
  const servers = [main, mtls, admin].filter((s): s is http.Server => s !== undefined);

  try {
    const file = options.configFile ?? 'issuer configuration';
    const mainPort = await listen(main, 'listen.port', config.listen.host, config.listen.port, file);
    const mtlsPort =
      mtls && config.mtls
        ? await listen(mtls, 'mtls.port', config.mtls.host, config.mtls.port, file)
        : undefined;
    const adminPort =
      admin && config.admin
        ? await listen(admin, 'admin.port', config.admin.host, config.admin.port, file)
        : undefined;

    const issuer = withPort(config.issuer, mainPort);
    let mtlsBase = issuer;
    if (mtlsPort !== undefined) {
      if (config.mtls?.baseUrl) mtlsBase = withPort(config.mtls.baseUrl, mtlsPort);
      else {
        const u = new URL(issuer);
        u.port = String(mtlsPort);
        mtlsBase = u.toString().replace(/\/$/, '');
      }
    }
    const urls: IssuerUrls = {
      issuer,
      mtlsBase,
      separateMtls,
      endpoint: (path, listener = 'main') => `${listener === 'mtls' ? mtlsBase : issuer}${path}`,
    };
    runtime = {
      config,
      urls,
      keys: prepared.keys,
      clientKeys: prepared.clientKeys,
      subjectDns: prepared.subjectDns,
      storage,
      ...(redis && { redis }),
      metrics,
      log,
      clock: { nowMs: clock, nowSeconds: () => Math.floor(clock() / 1000) },
    };
    startCiba(runtime, options.ciba);
    metrics.ready.set(1);
    log.info(
      { issuer, mtls: separateMtls ? mtlsBase : undefined, adminPort, clients: config.clients.length },
      'issuer listening',
    );
    let closed = false;
    return {
      url: issuer,
      mtlsUrl: mtlsBase,
      adminPort,
      runtime,
      async close() {
        if (closed) return;
        closed = true;
        metrics.ready.set(0);
        await Promise.all(servers.map(closeServer));
        if (runtime) await stopCiba(runtime);
        await storage.close();
        await redis?.close();
      },
    };
  } catch (err) {
    await Promise.all(servers.filter((s) => s.listening).map(closeServer));
    await storage.close();
    await redis?.close();
    throw err;
  }

  function pathPrefix(listener: ListenerName, rt: IssuerRuntime): string {
    let known = prefixes.get(rt.urls);
    if (!known) {
      const of = (base: string) => new URL(base).pathname.replace(/\/$/, '');
      known = { main: of(rt.urls.issuer), mtls: of(rt.urls.mtlsBase) };
      prefixes.set(rt.urls, known);
    }
    return known[listener];
  }

  async function answer(
    rt: IssuerRuntime,
    listener: ListenerName,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    const started = process.hrtime.bigint();
    let endpointName = 'unmatched';
    let reply: Reply;
    try {
      if (hasRepeatedHost(req.rawHeaders))
        throw new OAuthError('malformed_request', 'more than one Host header');
      const target = req.url ?? '/';
      // A plain path (what clients send to /token and /introspect) is its own pathname: no URL to parse.
      const url = PLAIN_PATH.test(target) ? undefined : new URL(target, 'https://issuer.invalid');
      const prefix = pathPrefix(listener, rt);
      let path = url ? url.pathname : target;
      if (prefix) path = path.startsWith(prefix + '/') ? path.slice(prefix.length) : '/\0';
      const method = req.method ?? 'GET';
      const endpoint = router.route(method, path);
      endpointName = endpoint.name;
      const request: IssuerRequest = {
        method,
        path,
        query: url ? url.searchParams : new URLSearchParams(),
        headers: req.headers,
        listener,
        publicUrl: rt.urls.endpoint(path, listener),
        certificate: presentedCertificate(req.socket as TLSSocket),
        raw: req,
      };
      reply = await endpoint.respond(request, rt);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!(err instanceof OAuthError)) rt.log.error({ err, endpoint: endpointName }, 'unexpected error');
      // A storage outage is logged once by the connection, not once per refused request.
      else if (refusal.reason === 'store_unavailable')
        rt.log.debug({ endpoint: endpointName, reason: refusal.reason }, REQUEST_REFUSED);
      else
        rt.log.info(
          { endpoint: endpointName, error: refusal.error, reason: refusal.reason },
          REQUEST_REFUSED,
        );
      countRefusal(rt.metrics, endpointName, refusal);
      reply = renderOAuthError(refusal);
    }
    writeReply(req, res, reply);
    rt.metrics.requests.inc({ endpoint: endpointName, status: String(reply.status) });
    rt.metrics.requestDuration.observe(
      { endpoint: endpointName },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
  }
}

/** Segments of unreserved characters without dots (RFC 3986 §2.3, §5.2.4): nothing a URL parser changes. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_~-]+)+$/;

// The public URLs' paths never change once listening: worked out once, not per request.
const prefixes = new WeakMap<IssuerRuntime['urls'], Record<ListenerName, string>>();

function writeReply(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  let body: string | Buffer | undefined;
  const headers: Record<string, string | string[]> = {
    'X-Content-Type-Options': 'nosniff',
    ...reply.headers,
  };
  if (reply.body === undefined) body = undefined;
  else if (typeof reply.body === 'string' || Buffer.isBuffer(reply.body)) body = reply.body;
  else {
    body = JSON.stringify(reply.body);
    headers['Content-Type'] ??= 'application/json';
  }
  if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
  res.writeHead(reply.status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

export type { IssuerConfig };
