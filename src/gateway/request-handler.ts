/**
 * One request through the gateway: request -> checks -> forward or answer -> exactly one `record` (one
 * metric update and one log line, whatever the outcome). Requests the HTTP parser refuses get the same
 * treatment from `onClientError`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { closedWithoutAnswer, parserRefusal } from '../net/parser-refusals.js';
import { interactionIdFor } from './checks/fapi-headers.js';
import { requestLineWriter } from './logger.js';
import type { InFlight } from './drain.js';
import type { ForwardResult } from './forwarder.js';
import { connectionIdentityOf } from './listener.js';
import { UNMATCHED_ROUTE, type GatewayMetrics, type Outcome, type UpstreamErrorKind } from './metrics.js';
import { runChecks } from './pipeline.js';
import type { GatewayPipeline } from './pipeline-build.js';
import { reject, type Reject } from './rejections.js';
import type { RequestContext } from './request-context.js';
import {
  BEARER_CHALLENGE,
  rawRejectResponse,
  renderReject,
  renderUpstreamFailure,
  type ChallengeScheme,
} from './responses.js';

/** One value for every refusal by a route's concurrency limit (nothing request-specific in it). */
const ROUTE_BUSY: Reject = reject(
  'route_concurrency_limit',
  'too many concurrent requests for this route: retry later',
);

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

export interface RequestHandlerDependencies {
  logger: Logger;
  metrics: GatewayMetrics;
  /** The pipeline of the configuration in force; a request keeps the one it started with. */
  pipeline: () => GatewayPipeline;
  inFlight: InFlight;
}

export interface RequestHandler {
  readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  /** For the listener's `clientError`: a FAPI-shaped answer to what the HTTP parser refused. */
  readonly onClientError: (err: NodeJS.ErrnoException, socket: Duplex) => void;
  /** For the listener's `connect`: CONNECT is refused through the same answer. */
  readonly onConnect: (req: IncomingMessage, socket: Duplex) => void;
}

const REFUSED = Symbol('fapi-gateway.parser-refused');

/** Node's socket under an HTTP server: `_httpMessage` is the response in progress on it, if any. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; [REFUSED]?: boolean };

export function createRequestHandler(deps: RequestHandlerDependencies): RequestHandler {
  const { logger, metrics, inFlight } = deps;
  const logRequest = requestLineWriter(logger);

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
    logRequest({
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
    });
  };

  const answerReject = (ctx: RequestContext, r: Reject, p: GatewayPipeline) => {
    const bodyPending =
      ctx.body === undefined &&
      !ctx.req.readableEnded &&
      ctx.req.headers['content-length'] !== '0' &&
      (ctx.req.headers['content-length'] !== undefined || ctx.req.headers['transfer-encoding'] !== undefined);
    renderReject(ctx.res, r, ctx.interactionId, bodyPending, challengeSchemes(ctx), {
      algs: p.dpop.algs,
      nonce: p.dpop.nonceFor(ctx),
    });
    record(ctx, 'rejected', r.status, { reason: r.reason });
    inFlight.end();
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
    inFlight.end();
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    // A connection without an identity presented no certificate: the binding check refuses what needs one.
    const connection = connectionIdentityOf(req.socket) ?? { tokenMemo: {} };
    inFlight.begin(res);
    const p = deps.pipeline();
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
        // Every check passed: only a request about to be forwarded takes one of its route's slots.
        const slots = ctx.route?.slots;
        if (slots !== undefined && !slots.tryAcquire()) {
          answerReject(ctx, ROUTE_BUSY, p);
          return;
        }
        ctx.dpopNonce = p.dpop.nonceFor(ctx);
        // The forwarder calls back exactly once, whatever happened (answer, failure, deadline, client gone).
        p.forwarder.forward(ctx, (result) => {
          slots?.release();
          onForwarded(ctx, result);
        });
      },
      (r) => answerReject(ctx, r, p),
      (err) => {
        logger.error({ err, interactionId: ctx.interactionId }, 'check failed unexpectedly');
        if (res.headersSent) {
          res.destroy();
          inFlight.end();
        } else answerReject(ctx, reject('internal_error', 'the gateway could not process the request'), p);
      },
    );
  };

  /** Counts and logs an answer given outside onRequest (no route, no ServerResponse). */
  const recordRaw = (r: Reject, interactionId: string, socket: Duplex) => {
    const instruments = metrics.instrumentsFor(UNMATCHED_ROUTE);
    instruments.requests.rejected.inc();
    metrics.countRejection(r.reason, undefined);
    logRequest({
      interactionId,
      route: UNMATCHED_ROUTE,
      outcome: 'rejected',
      reason: r.reason,
      status: r.status,
      thumbprint: connectionIdentityOf(socket)?.certificate?.thumbprint,
    });
  };

  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (closedWithoutAnswer(err, socket)) return;
    const { reason, description } = parserRefusal(err);
    const r = reject(reason, description);
    const interactionId = randomUUID();
    const s = socket as HttpSocket;
    if (s[REFUSED] === true) return; // the parser stays in error: one refusal per connection
    s[REFUSED] = true;
    const inProgress = s._httpMessage;
    if (inProgress) {
      // A pipelined request broke while an earlier response is pending or being written: bytes written
      // now would land inside that response. It is finished, then the connection closed (RFC 9112 §9.6).
      if (!inProgress.headersSent) inProgress.shouldKeepAlive = false;
      inProgress.once('finish', () => s.destroySoon());
      inProgress.once('close', () => s.destroySoon());
    } else socket.end(rawRejectResponse(r, interactionId));
    recordRaw(r, interactionId, socket);
  };

  /** CONNECT never reaches onRequest (Node emits `connect`); without a listener Node drops it silently. */
  const onConnect = (_req: IncomingMessage, socket: Duplex) => {
    const r = reject('connect_not_supported', 'CONNECT is not supported: the gateway is not a tunnel');
    const interactionId = randomUUID();
    if (socket.writable) socket.end(rawRejectResponse(r, interactionId));
    else socket.destroy();
    recordRaw(r, interactionId, socket);
  };

  return { onRequest, onClientError, onConnect };
}
