/**
 * The gateway process, wired: mTLS listener -> request handler (checks, forwarder) plus the admin
 * listener, metrics and logs. `startGateway` is the programmatic entry point (tests, demo, bench);
 * `runGateway` (run.ts) adds signals, workers and reloads around it. What one configuration builds is in
 * pipeline-build.ts, one request's path in request-handler.ts, stopping in drain.ts.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config.js';
import { createAdminServer, metricsAuthorization } from './admin.js';
import { drainListener, InFlight } from './drain.js';
import { createListener, fapiSecureContextOptions } from './listener.js';
import { createGatewayLogger } from './logger.js';
import { GatewayMetrics } from './metrics.js';
import {
  buildPipeline,
  retireReplaced,
  sameJson,
  stopPipeline,
  type GatewayPipeline,
  type PipelineDependencies,
} from './pipeline-build.js';
import { createRequestHandler } from './request-handler.js';
import { RouteConcurrency } from './route-concurrency.js';
import { connectGatewayReplayStore } from './redis-replay.js';
import { readTlsMaterial, type LoadedTlsMaterial } from './tls-material.js';
import { StartupError } from './startup-error.js';
import { listenOn } from '../net/listen.js';
import { wireTrustedProxies } from './trusted-proxies.js';

export interface StartGatewayOptions {
  /** Defaults to a pino logger at `logging.level` on stdout. */
  logger?: Logger;
  /** prom-client default (process) metrics; default true. */
  defaultMetrics?: boolean;
  /** Serve the admin listener (cluster workers leave it to the primary); default true. */
  admin?: boolean;
  /** Unix seconds for DPoP proof times and nonce windows; tests inject a clock. */
  clock?: () => number;
}

export interface GatewayHandle {
  listenPort: number;
  /** 0 when the admin listener is off. */
  adminPort: number;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Resolves once the JWKS is loaded (readiness). */
  whenReady(): Promise<void>;
  ready(): boolean;
  /** Validates and applies a new configuration; throws (and keeps the old one) when it cannot. */
  reload(config: GatewayConfig): void;
  /** Re-reads the TLS files; throws (and keeps serving the old material) when they are broken. */
  reloadCertificates(): void;
  /** Uses already validated TLS material for new connections (certificate watch, cluster primary). */
  useTlsMaterial(material: LoadedTlsMaterial): void;
  /**
   * Stops accepting, lets in-flight requests finish (bounded by shutdown.drainTimeoutMs), frees everything.
   * With `graceMs`, first fails readiness and keeps serving that long, answering with `Connection: close`.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

function listen(server: HttpServer | HttpsServer, key: string, host: string, port: number): Promise<number> {
  return listenOn(server, host, port, (why, cause) => new StartupError(key, why, { cause }));
}

export async function startGateway(
  config: GatewayConfig,
  options: StartGatewayOptions = {},
): Promise<GatewayHandle> {
  const logger = options.logger ?? createGatewayLogger(config.logging.level);
  const tlsMaterial: LoadedTlsMaterial = readTlsMaterial(config.tls);
  let pipeline: GatewayPipeline;
  const inFlight = new InFlight();
  let closing = false;
  /** Not ready from the first moment of stopping: the grace period exists so load balancers see it. */
  const ready = () => !closing && pipeline.verifiers.ready();

  const concurrency = new RouteConcurrency();
  const metrics: GatewayMetrics = new GatewayMetrics(
    {
      routeInFlight: () => concurrency.inFlight(),
      jwks:
        config.tokens.jwksUri === undefined
          ? undefined
          : {
              ageSeconds: () => pipeline.verifiers.jwt?.jwks.ageSeconds(),
              keyCount: () => pipeline.verifiers.jwt?.jwks.keyCount,
            },
      ready,
    },
    { defaultMetrics: options.defaultMetrics },
  );

  const publishExpiries = (m: LoadedTlsMaterial) => {
    metrics.certificateExpiry.reset();
    for (const e of m.expiries) metrics.certificateExpiry.labels(e.kind, e.subject).set(e.notAfter);
  };
  publishExpiries(tlsMaterial);

  const shared = connectGatewayReplayStore(config, metrics, logger);
  // Fixed at start, like the listener's certificate mode that depends on it.
  const trustedProxies = wireTrustedProxies(config, tlsMaterial.clientCaPem, {
    now: () => (options.clock?.() ?? Date.now() / 1000) * 1000,
    onLookup: (result) => metrics.clientCertHeaderCache.labels(result).inc(),
  });
  const deps: PipelineDependencies = {
    logger,
    metrics,
    clock: options.clock,
    concurrency,
    proxiedClientCertificate: trustedProxies?.check,
    ...(shared && { replayStore: shared.store }),
  };
  try {
    pipeline = buildPipeline(config, deps);
  } catch (err) {
    await shared?.connection.close();
    throw err;
  }
  const handler = createRequestHandler({ logger, metrics, inFlight, pipeline: () => pipeline });

  const listener = createListener(
    tlsMaterial,
    {
      sessionTimeoutSeconds: config.tls.sessionTimeoutSeconds,
      handshakeTimeoutMs: config.tls.handshakeTimeoutMs,
      maxConnections: config.limits.maxConnections,
      clientCertificateMaxBytes: config.limits.clientCertificateBytes,
      certificateOptional: config.routes.some((r) => r.binding !== 'mtls'),
      trustedProxies: trustedProxies?.proxies,
    },
    handler.onRequest,
    {
      onHandshakeFailure: (reason, detail) => {
        metrics.tlsHandshakeFailures.labels(reason).inc();
        logger.debug({ event: 'tls_handshake_failed', reason, err: detail }, 'TLS handshake refused');
      },
      onConnectionRefused: () => metrics.connectionsRefused.inc(),
      onConnectionOpened: (socket) => {
        metrics.openConnections.inc();
        inFlight.opened(socket);
      },
      onConnectionClosed: () => metrics.openConnections.dec(),
    },
  );
  // Requests the HTTP parser refuses never reach onRequest; they still get a FAPI-shaped answer.
  listener.on('clientError', handler.onClientError);
  listener.on('connect', handler.onConnect);

  const admin =
    options.admin === false
      ? undefined
      : createAdminServer({
          metricsAuthorized: metricsAuthorization(config.admin),
          ready,
          metrics: async () => ({
            contentType: metrics.registry.contentType,
            body: await metrics.registry.metrics(),
          }),
        });

  let listenPort: number;
  let adminPort = 0;
  try {
    listenPort = await listen(listener, 'listen', config.listen.host, config.listen.port);
    if (admin) adminPort = await listen(admin, 'admin', config.admin.host, config.admin.port);
  } catch (err) {
    listener.close();
    stopPipeline(pipeline);
    await shared?.connection.close();
    throw err;
  }
  logger.info(
    {
      event: 'started',
      listen: `${config.listen.host}:${listenPort}`,
      admin: admin ? `${config.admin.host}:${adminPort}` : 'off',
    },
    'fapi-gateway listening',
  );

  /** New connections get the new certificate and CA bundle; open connections keep theirs. */
  const applyTlsMaterial = (fresh: LoadedTlsMaterial, c: GatewayConfig) => {
    listener.setSecureContext(fapiSecureContextOptions(fresh, c.tls.sessionTimeoutSeconds));
    trustedProxies?.useClientCa(fresh.clientCaPem);
    publishExpiries(fresh);
  };

  return {
    listenPort,
    adminPort,
    metrics,
    logger,
    whenReady: () => pipeline.verifiers.whenReady(),
    ready,
    reload(next) {
      for (const key of ['listen', 'admin', 'workers', 'trustedProxies'] as const) {
        if (!sameJson(pipeline.config[key], next[key])) {
          logger.warn({ event: 'config_reload', key }, `${key} changes take effect only after a restart`);
        }
      }
      if (!sameJson(pipeline.config.dpop.replayStore, next.dpop.replayStore))
        logger.warn(
          { event: 'config_reload', key: 'dpop.replayStore' },
          'dpop.replayStore changes take effect only after a restart',
        );
      const previous = pipeline;
      // Everything that can fail (files, parsing) happens before anything is swapped.
      const fresh = sameJson(previous.config.tls, next.tls) ? undefined : readTlsMaterial(next.tls);
      pipeline = buildPipeline(next, deps, previous);
      if (fresh) applyTlsMaterial(fresh, next);
      retireReplaced(previous, pipeline);
    },
    reloadCertificates() {
      applyTlsMaterial(readTlsMaterial(pipeline.config.tls), pipeline.config);
    },
    useTlsMaterial(material) {
      applyTlsMaterial(material, pipeline.config);
    },
    async close(closeOptions = {}) {
      if (closing) return;
      closing = true;
      const graceMs = closeOptions.graceMs ?? 0;
      if (graceMs > 0) {
        inFlight.closeConnections();
        logger.info(
          { event: 'shutdown_grace', graceMs },
          'stopping: not ready; serving with Connection: close until the grace period ends',
        );
        await new Promise((resolve) => setTimeout(resolve, graceMs));
      }
      await drainListener(listener, inFlight, pipeline.config.shutdown.drainTimeoutMs, logger);
      stopPipeline(pipeline);
      await shared?.connection.close();
      if (admin) {
        admin.closeAllConnections();
        await new Promise<void>((resolve) => admin.close(() => resolve()));
      }
      logger.info({ event: 'stopped' }, 'fapi-gateway stopped');
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    },
  };
}
