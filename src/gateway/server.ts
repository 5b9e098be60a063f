/**
 * The gateway process, wired: mTLS listener -> pipeline of checks -> forwarder, plus the admin listener,
 * the JWKS cache, metrics and logs. `startGateway` is the programmatic entry point (tests, demo, bench);
 * `runGateway` (run.ts) adds signals, workers and reloads around it.
 */
import type { IncomingMessage, ServerResponse, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config.js';
import { createAdminServer, metricsAuthorization } from './admin.js';
import { interactionIdFor } from './checks/fapi-headers.js';
import { Forwarder, type ForwardResult } from './forwarder.js';
import { connectionIdentityOf, createListener, fapiSecureContextOptions } from './listener.js';
import { createGatewayLogger } from './logger.js';
import { GatewayMetrics, UNMATCHED_ROUTE, type Outcome, type UpstreamErrorKind } from './metrics.js';
import { buildChecks, runChecks, type CheckList } from './pipeline.js';
import { reject, type Reject } from './rejections.js';
import type { RequestContext } from './request-context.js';
import {
  BEARER_CHALLENGE,
  rawRejectResponse,
  renderReject,
  renderUpstreamFailure,
  type ChallengeScheme,
} from './responses.js';
import { buildTokenVerifiers, type TokenVerifiers } from './tokens/verifiers.js';
import { buildIntrospectionVerifier } from './introspection/build.js';
import { randomUUID } from 'node:crypto';
import { readTlsMaterial, type LoadedTlsMaterial } from './tls-material.js';
import { StartupError } from './startup-error.js';
import { GatewayDpop } from './dpop.js';
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
  /** Stops accepting, lets in-flight requests finish (bounded by shutdown.drainTimeoutMs), frees everything. */
  close(): Promise<void>;
}

/** Everything derived from one configuration; swapped as a whole on reload. */
interface Pipeline {
  config: GatewayConfig;
  checks: CheckList;
  forwarder: Forwarder;
  verifiers: TokenVerifiers;
  dpop: GatewayDpop;
  /** Contents of tokens.jwksCa and upstream.ca when built: a reload compares contents, not paths. */
  jwksCaPem: string | undefined;
  upstreamCaPem: string | undefined;
}

const DPOP_CHALLENGE: readonly ChallengeScheme[] = ['dpop'];
const ANY_CHALLENGE: readonly ChallengeScheme[] = ['dpop', 'bearer'];

/** The scheme the request used, or (without credentials) every scheme its route accepts. */
function challengeSchemes(ctx: RequestContext): readonly ChallengeScheme[] {
  const presented = ctx.credentials?.scheme ?? ctx.presentedScheme;
  if (presented !== undefined) return presented === 'dpop' ? DPOP_CHALLENGE : BEARER_CHALLENGE;
  switch (ctx.route?.binding) {
    case 'dpop':
      return DPOP_CHALLENGE;
    case 'any':
      return ANY_CHALLENGE;
    default:
      return BEARER_CHALLENGE;
  }
}

function listen(server: HttpServer | HttpsServer, key: string, host: string, port: number): Promise<number> {
  return listenOn(server, host, port, (why, cause) => new StartupError(key, why, { cause }));
}

function readOptionalFile(key: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: err,
    });
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export async function startGateway(
  config: GatewayConfig,
  options: StartGatewayOptions = {},
): Promise<GatewayHandle> {
  const logger = options.logger ?? createGatewayLogger(config.logging.level);
  const tlsMaterial: LoadedTlsMaterial = readTlsMaterial(config.tls);
  let pipeline: Pipeline;
  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const metrics: GatewayMetrics = new GatewayMetrics(
    {
      jwks:
        config.tokens.jwksUri === undefined
          ? undefined
          : {
              ageSeconds: () => pipeline.verifiers.jwt?.jwks.ageSeconds(),
              keyCount: () => pipeline.verifiers.jwt?.jwks.keyCount,
            },
      ready: () => pipeline.verifiers.ready(),
    },
    { defaultMetrics: options.defaultMetrics },
  );

  const publishExpiries = (m: LoadedTlsMaterial) => {
    metrics.certificateExpiry.reset();
    for (const e of m.expiries) metrics.certificateExpiry.labels(e.kind, e.subject).set(e.notAfter);
  };
  publishExpiries(tlsMaterial);
  // Fixed at start, like the listener's certificate mode that depends on it.
  const trustedProxies = wireTrustedProxies(config, tlsMaterial.clientCaPem, {
    now: () => (options.clock?.() ?? Date.now() / 1000) * 1000,
    onLookup: (result) => metrics.clientCertHeaderCache.labels(result).inc(),
  });

  const buildPipeline = (c: GatewayConfig, previous?: Pipeline): Pipeline => {
    const jwksCaPem = readOptionalFile('tokens.jwksCa', c.tokens.jwksCa);
    const upstreamCaPem = readOptionalFile('upstream.ca', c.upstream.ca);
    const keepTokens =
      previous !== undefined &&
      sameJson(previous.config.tokens, c.tokens) &&
      previous.jwksCaPem === jwksCaPem;
    const verifiers = keepTokens
      ? previous.verifiers
      : buildTokenVerifiers(c.tokens, {
          logger,
          jwksCaPem,
          onJwksFetch: (result) => metrics.jwksFetches.labels(result).inc(),
          onCacheHit: () => metrics.tokenCacheHits.inc(),
          opaque: buildIntrospectionVerifier(c.tokens, { logger, metrics, jwksCaPem }),
        });
    const keepUpstream =
      previous !== undefined &&
      sameJson(previous.config.upstream, c.upstream) &&
      previous.upstreamCaPem === upstreamCaPem &&
      sameJson(previous.config.forwardHeaders, c.forwardHeaders);
    const forwarder = keepUpstream
      ? previous.forwarder
      : new Forwarder({
          url: c.upstream.url,
          timeoutMs: c.upstream.timeoutMs,
          maxSockets: c.upstream.maxSockets,
          caPem: upstreamCaPem,
          forwardHeaders: c.forwardHeaders,
        });
    const keepDpop = previous !== undefined && sameJson(previous.config.dpop, c.dpop);
    const dpop = keepDpop ? previous.dpop : new GatewayDpop(c.dpop, { now: options.clock });
    for (const r of c.routes) metrics.instrumentsFor(r.path);
    return {
      config: c,
      checks: buildChecks(c, verifiers, {
        dpopBinding: dpop.bindingCheck,
        proxiedClientCertificate: trustedProxies?.check,
      }),
      forwarder,
      verifiers,
      dpop,
      jwksCaPem,
      upstreamCaPem,
    };
  };
  pipeline = buildPipeline(config);

  const requestEnded = () => {
    inFlight--;
    if (draining && inFlight === 0) drained?.();
  };

  /** One metric update and one log line per request, whatever its outcome. */
  const record = (
    ctx: RequestContext,
    outcome: Outcome,
    status: number,
    detail: { reason?: Reject['reason']; upstreamSeconds?: number; upstreamError?: UpstreamErrorKind },
  ) => {
    const route = ctx.route?.label ?? UNMATCHED_ROUTE;
    const instruments = metrics.instrumentsFor(route);
    const seconds = (performance.now() - ctx.startedAt) / 1000;
    instruments.requests[outcome].inc();
    instruments.duration[outcome].observe(seconds);
    if (detail.upstreamSeconds !== undefined) instruments.upstreamDuration.observe(detail.upstreamSeconds);
    if (detail.reason !== undefined) metrics.countRejection(detail.reason, ctx.verified?.clientId);
    if (detail.upstreamError !== undefined) metrics.upstreamErrors.labels(detail.upstreamError).inc();
    // A report-only route forwarded a call its checks refused: counted apart from rejections.
    const wouldReject = ctx.wouldReject?.map((r) => r.reason);
    if (wouldReject !== undefined) for (const reason of wouldReject) metrics.countWouldReject(reason);
    logger.info(
      {
        interactionId: ctx.interactionId,
        method: ctx.req.method,
        route,
        outcome,
        decision: wouldReject === undefined ? undefined : 'would_reject',
        reason: detail.reason ?? wouldReject?.[0],
        wouldReject,
        upstreamError: detail.upstreamError,
        status,
        latencyMs: Math.round(seconds * 1e4) / 10,
        clientId: ctx.verified?.clientId,
        thumbprint: ctx.certificate?.thumbprint,
      },
      'request',
    );
  };

  const answerReject = (ctx: RequestContext, r: Reject, dpop: GatewayDpop) => {
    const bodyPending =
      ctx.body === undefined &&
      !ctx.req.readableEnded &&
      ctx.req.headers['content-length'] !== '0' &&
      (ctx.req.headers['content-length'] !== undefined || ctx.req.headers['transfer-encoding'] !== undefined);
    renderReject(ctx.res, r, ctx.interactionId, bodyPending, challengeSchemes(ctx), {
      algs: dpop.algs,
      nonce: dpop.nonceFor(ctx),
    });
    record(ctx, 'rejected', r.status, { reason: r.reason });
    requestEnded();
  };

  const onForwarded = (ctx: RequestContext, result: ForwardResult) => {
    switch (result.kind) {
      case 'forwarded':
        record(ctx, 'forwarded', result.status, { upstreamSeconds: result.upstreamSeconds });
        break;
      case 'upstream_error':
        renderUpstreamFailure(ctx.res, result.status, ctx.interactionId, ctx.dpopNonce);
        record(ctx, 'upstream_error', result.status, { upstreamError: result.error });
        break;
      case 'aborted':
        record(ctx, result.error === undefined ? 'forwarded' : 'upstream_error', result.status, {
          upstreamError: result.error,
        });
        break;
    }
    requestEnded();
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    // A connection without an identity presented no certificate: the binding check refuses what needs one.
    const connection = connectionIdentityOf(req.socket) ?? { tokenMemo: {} };
    inFlight++;
    if (draining) res.shouldKeepAlive = false;
    const p = pipeline;
    const ctx: RequestContext = {
      req,
      res,
      connection,
      certificate: connection.certificate,
      startedAt: performance.now(),
      interactionId: interactionIdFor(req),
      path: '',
      query: '',
    };
    runChecks(
      p.checks,
      ctx,
      () => {
        ctx.dpopNonce = p.dpop.nonceFor(ctx);
        p.forwarder.forward(ctx, (result) => onForwarded(ctx, result));
      },
      (r) => answerReject(ctx, r, p.dpop),
      (err) => {
        logger.error({ err, interactionId: ctx.interactionId }, 'check failed unexpectedly');
        if (res.headersSent) {
          res.destroy();
          requestEnded();
        } else
          answerReject(ctx, reject('internal_error', 'the gateway could not process the request'), p.dpop);
      },
    );
  };

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
    onRequest,
    {
      onHandshakeFailure: (reason, detail) => {
        metrics.tlsHandshakeFailures.labels(reason).inc();
        logger.debug({ event: 'tls_handshake_failed', reason, err: detail }, 'TLS handshake refused');
      },
      onConnectionRefused: () => metrics.connectionsRefused.inc(),
      onConnectionOpened: () => metrics.openConnections.inc(),
      onConnectionClosed: () => metrics.openConnections.dec(),
    },
  );

  // Requests the HTTP parser refuses never reach onRequest; they still get a FAPI-shaped answer.
  listener.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const r =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? reject('headers_too_large', 'the request headers are too large')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? reject('request_timeout', 'the request was not received in time')
          : reject('malformed_request', 'the request is not valid HTTP/1.1');
    const interactionId = randomUUID();
    socket.end(rawRejectResponse(r, interactionId));
    const instruments = metrics.instrumentsFor(UNMATCHED_ROUTE);
    instruments.requests.rejected.inc();
    metrics.countRejection(r.reason, undefined);
    logger.info(
      {
        interactionId,
        route: UNMATCHED_ROUTE,
        outcome: 'rejected',
        reason: r.reason,
        status: r.status,
        thumbprint: connectionIdentityOf(socket)?.certificate?.thumbprint,
      },
      'request',
    );
  });

  const admin =
    options.admin === false
      ? undefined
      : createAdminServer({
          metricsAuthorized: metricsAuthorization(config.admin),
          ready: () => pipeline.verifiers.ready(),
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
    pipeline.verifiers.stop();
    pipeline.forwarder.close();
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

  const handle: GatewayHandle = {
    listenPort,
    adminPort,
    metrics,
    logger,
    whenReady: () => pipeline.verifiers.whenReady(),
    ready: () => pipeline.verifiers.ready(),
    reload(next) {
      for (const key of ['listen', 'admin', 'workers', 'trustedProxies'] as const) {
        if (!sameJson(pipeline.config[key], next[key])) {
          logger.warn({ event: 'config_reload', key }, `${key} changes take effect only after a restart`);
        }
      }
      const previous = pipeline;
      // Everything that can fail (files, parsing) happens before anything is swapped.
      const fresh = sameJson(previous.config.tls, next.tls) ? undefined : readTlsMaterial(next.tls);
      pipeline = buildPipeline(next, previous);
      if (fresh) applyTlsMaterial(fresh, next);
      if (previous.verifiers !== pipeline.verifiers) previous.verifiers.stop();
      if (previous.forwarder !== pipeline.forwarder) {
        const old = previous.forwarder;
        setTimeout(() => old.close(), next.shutdown.drainTimeoutMs + next.upstream.timeoutMs).unref();
      }
    },
    reloadCertificates() {
      applyTlsMaterial(readTlsMaterial(pipeline.config.tls), pipeline.config);
    },
    useTlsMaterial(material) {
      applyTlsMaterial(material, pipeline.config);
    },
    async close() {
      if (draining) return;
      draining = true;
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      listener.closeIdleConnections();
      // Logged once the listener is closed: whoever waits for this line finds new connections refused.
      logger.info(
        { event: 'draining', inFlight },
        'stopping: no new connections, draining in-flight requests',
      );
      const idleSweep = setInterval(() => listener.closeIdleConnections(), 50);
      const allDone = new Promise<void>((resolve) => {
        if (inFlight === 0) resolve();
        else drained = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), pipeline.config.shutdown.drainTimeoutMs);
      });
      const outcome = await Promise.race([allDone.then(() => 'drained' as const), timeout]);
      clearInterval(idleSweep);
      clearTimeout(timer);
      listener.closeAllConnections();
      if (outcome === 'timeout')
        logger.warn({ event: 'drain_timeout', inFlight }, 'drain timeout: closing remaining connections');
      await closed;
      pipeline.verifiers.stop();
      pipeline.forwarder.close();
      if (admin) {
        admin.closeAllConnections();
        await new Promise<void>((resolve) => admin.close(() => resolve()));
      }
      logger.info({ event: 'stopped' }, 'fapi-gateway stopped');
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    },
  };
  return handle;
}
