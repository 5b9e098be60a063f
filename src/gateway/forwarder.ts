/**
 * Forwarding to the protected API over keep-alive connections. Method, path (as matched), query and body
 * go unchanged; headers the gateway asserts are removed from the inbound request first and then set from
 * the TLS connection and the verified token, so no client can forge them.
 *
 * Built on undici's `Pool.dispatch` (one callback handler per request: no ClientRequest, no IncomingMessage,
 * no pipe) rather than node:http with a keep-alive Agent or http-proxy-3. Bare mTLS forwarders measured in
 * one `npm run bench` run (docs/benchmarks.md, "Forwarding library"): undici `Pool.dispatch` 14,765 req/s
 * at 46 µs of CPU per request, undici `Pool.request` 10,250 at 74, `node:http` with a keep-alive Agent
 * 6,189 at 118, http-proxy-3 5,361 at 140. The header rules below stay one explicit list, and every failure
 * arrives in one `onError`.
 */
import type { IncomingMessage } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import type { RequestContext } from './request-context.js';
import type { UpstreamErrorKind } from './metrics.js';

export interface ForwarderOptions {
  url: string;
  timeoutMs: number;
  maxSockets: number;
  /** PEM CA bundle for an https upstream (system CAs when absent). */
  caPem?: string;
  forwardHeaders: { clientId: string; subject: string; scope: string };
}

export type ForwardResult =
  | { kind: 'forwarded'; status: number; upstreamSeconds: number }
  | { kind: 'upstream_error'; status: 502 | 504; error: UpstreamErrorKind }
  /** The client went away or the upstream broke mid-response: nothing more can be answered. */
  | { kind: 'aborted'; status: number; error?: UpstreamErrorKind };

/** RFC 9110 §7.6.1 hop-by-hop headers: never forwarded in either direction. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/**
 * Headers whose inbound copies are removed before forwarding: what the gateway asserts (RFC 9440 client
 * certificate, identity, forwarding facts) and what other TLS terminators use to pass certificates.
 */
export function strippedHeaderNames(forwardHeaders: ForwarderOptions['forwardHeaders']): Set<string> {
  return new Set([
    ...HOP_BY_HOP,
    'proxy-authorization',
    'client-cert',
    'client-cert-chain',
    'x-forwarded-client-cert',
    'x-client-cert',
    'ssl-client-cert',
    'forwarded',
    'x-real-ip',
    'x-fapi-interaction-id',
    // Node has answered `Expect: 100-continue` already; undici refuses to send it (RFC 9110 §10.1.1).
    'expect',
    // Headers some back end or framework trusts to override the URL or the method that was checked.
    'x-original-url',
    'x-rewrite-url',
    'x-override-url',
    'x-http-method-override',
    'x-http-method',
    'x-method-override',
    // Client addresses other proxies assert: only the gateway says who the peer is (X-Forwarded-For).
    'true-client-ip',
    'x-client-ip',
    'cf-connecting-ip',
    'fastly-client-ip',
    'x-cluster-client-ip',
    'x-originating-ip',
    'x-remote-ip',
    'x-remote-addr',
    // Other TLS terminators' client-certificate headers.
    'x-arr-clientcert',
    'x-client-verify',
    'x-client-dn',
    'x-client-s-dn',
    'x-client-i-dn',
    'cf-client-cert-der-base64',
    forwardHeaders.clientId.toLowerCase(),
    forwardHeaders.subject.toLowerCase(),
    forwardHeaders.scope.toLowerCase(),
  ]);
}

const STRIPPED_PREFIXES = ['x-forwarded-', 'x-ssl-', 'x-client-cert-', 'x-amzn-mtls-'];

/**
 * CGI, PHP, Rack and WSGI turn `-` into `_` when they map headers to variables, so
 * `X_Authenticated_Client_Id` would reach them as the gateway's own identity header: every header name
 * with an underscore is dropped, as nginx does by default (`underscores_in_headers off`).
 */
function isStripped(lower: string, names: Set<string>, connectionListed: Set<string> | undefined): boolean {
  if (names.has(lower) || connectionListed?.has(lower) || lower.includes('_')) return true;
  for (const p of STRIPPED_PREFIXES) if (lower.startsWith(p)) return true;
  return false;
}

/** Headers named by `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionListedNames(req: IncomingMessage): Set<string> | undefined {
  const c = req.headers.connection;
  // The usual values name only headers that are stripped anyway.
  if (c === undefined || c === 'keep-alive' || c === 'close' || c === 'Keep-Alive') return undefined;
  return new Set(c.split(',').map((s) => s.trim().toLowerCase()));
}

/**
 * The names the upstream's own `Connection` header lists (RFC 9110 §7.6.1): hop-by-hop for the
 * upstream's connection, never passed on to the client.
 */
function connectionListedInResponse(rawHeaders: Buffer[]): Set<string> | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 10 || name.toString('latin1').toLowerCase() !== 'connection') continue;
    const value = rawHeaders[i + 1]!.toString('latin1').toLowerCase();
    if (value === 'keep-alive' || value === 'close') continue;
    return new Set(value.split(',').map((s) => s.trim()));
  }
  return undefined;
}

function classifyUpstreamError(err: NodeJS.ErrnoException, timedOut: boolean): UpstreamErrorKind {
  if (timedOut) return 'timeout';
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return err.message === 'socket hang up' ? 'reset' : 'other';
  }
}

/** undici error codes, mapped like the socket errors they stand for. */
function classifyUndiciError(err: Error & { code?: string }): UpstreamErrorKind {
  switch (err.code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_SOCKET':
      return 'reset';
    default:
      return classifyUpstreamError(err, false);
  }
}

/**
 * Forwards over an undici `Pool` through its lowest-level `dispatch` API: one callback handler per
 * request, no promise, no intermediate stream (the figures behind the choice are in the module comment).
 */
export class Forwarder {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly stripped: Set<string>;
  private readonly names: ForwarderOptions['forwardHeaders'];

  constructor(private readonly options: ForwarderOptions) {
    const url = new URL(options.url);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: options.maxSockets,
      pipelining: 1,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
      ...(url.protocol === 'https:' && options.caPem !== undefined ? { connect: { ca: options.caPem } } : {}),
    });
    this.stripped = strippedHeaderNames(options.forwardHeaders);
    this.names = options.forwardHeaders;
  }

  /** The raw header list sent upstream. */
  upstreamHeaders(ctx: RequestContext): string[] {
    const req = ctx.req;
    const raw = req.rawHeaders;
    const listed = connectionListedNames(req);
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      if (isStripped(lower, this.stripped, listed)) continue;
      if (ctx.body !== undefined && lower === 'content-length') continue;
      out.push(name, raw[i + 1]!);
    }
    // Identity only from a call that passed every check (report-only routes forward failing calls too).
    const v = ctx.identity;
    if (ctx.certificate !== undefined) out.push('Client-Cert', ctx.certificate.clientCertHeader);
    if (v !== undefined) {
      out.push(this.names.clientId, v.clientId, this.names.subject, v.subject, this.names.scope, v.scope);
    }
    out.push(
      'X-Forwarded-For',
      req.socket.remoteAddress ?? '',
      'X-Forwarded-Proto',
      'https',
      'x-fapi-interaction-id',
      ctx.interactionId,
    );
    const host = req.headers.host;
    if (host !== undefined) out.push('X-Forwarded-Host', host);
    if (ctx.body !== undefined) out.push('Content-Length', String(ctx.body.length));
    return out;
  }

  forward(ctx: RequestContext, done: (result: ForwardResult) => void): void {
    const { req, res } = ctx;
    // The client left while the checks ran (an asynchronous key or introspection lookup): nothing to
    // forward, and no 'close' event would ever come to settle the request.
    if (res.destroyed) {
      done({ kind: 'aborted', status: 499 });
      return;
    }
    const started = performance.now();
    let settled = false;
    let status = 502;
    let upstreamSeconds = 0;
    let abortUpstream: ((err?: Error) => void) | undefined;
    let resumeUpstream: (() => void) | undefined;
    let invalidResponse = false;
    let timedOut = false;
    /** Answered without the upstream (deadline, client gone) while possibly still queued in the pool. */
    let cancelled = false;
    // One deadline from the moment the request is handed to the pool until the upstream's answer
    // begins: undici's own timeouts start only once a connection is free, so time spent queued behind
    // a slow endpoint would not count.
    const deadline = setTimeout(() => {
      timedOut = true;
      cancelled = true;
      if (abortUpstream) abortUpstream();
      else finish({ kind: 'upstream_error', status: 504, error: 'timeout' }); // still queued
    }, this.options.timeoutMs);
    const finish = (result: ForwardResult) => {
      clearTimeout(deadline);
      if (settled) return;
      settled = true;
      done(result);
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        // A request that waited in the queue past its deadline was answered already: never send it.
        if (cancelled) abort();
        else abortUpstream = abort;
      },
      onHeaders(statusCode, rawHeaders, resume, statusText) {
        // Interim answers (103 Early Hints, a stray 100) are not relayed: the final answer follows.
        if (statusCode < 200) return true;
        clearTimeout(deadline);
        upstreamSeconds = (performance.now() - started) / 1000;
        if (statusCode > 599) {
          // RFC 9110 §15: status codes are three digits from 100 to 599; anything else is a broken upstream.
          invalidResponse = true;
          abortUpstream?.();
          return false;
        }
        status = statusCode;
        const upstreamConnection = connectionListedInResponse(rawHeaders);
        const nonce = ctx.dpopNonce;
        const headers: string[] = [];
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!.toString('latin1');
          const lower = name.toLowerCase();
          if (
            HOP_BY_HOP.includes(lower) ||
            lower === 'x-fapi-interaction-id' ||
            lower === 'proxy-authenticate' ||
            upstreamConnection?.has(lower) ||
            (nonce !== undefined && (lower === 'cache-control' || lower === 'dpop-nonce'))
          )
            continue;
          headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
        }
        // FAPI: the interaction id comes back on every response, whatever the upstream did with it.
        headers.push('x-fapi-interaction-id', ctx.interactionId);
        // RFC 9449 §8.2: an answer carrying a nonce must not be cached (a cache would hand out stale nonces).
        if (nonce !== undefined) headers.push('DPoP-Nonce', nonce, 'Cache-Control', 'no-store');
        res.writeHead(statusCode, statusText, headers);
        resumeUpstream = resume;
        return true;
      },
      onData(chunk) {
        // Backpressure: a slow client pauses the upstream instead of buffering its body here.
        const more = res.write(chunk);
        if (!more && resumeUpstream) res.once('drain', resumeUpstream);
        return more;
      },
      onComplete() {
        res.end();
      },
      onError(err: Error & { code?: string }) {
        const kind = invalidResponse ? 'invalid_response' : timedOut ? 'timeout' : classifyUndiciError(err);
        if (res.headersSent) {
          res.destroy();
          finish({ kind: 'aborted', status: res.statusCode, error: kind });
          return;
        }
        if (res.destroyed) {
          finish({ kind: 'aborted', status: 499 });
          return;
        }
        finish({ kind: 'upstream_error', status: kind === 'timeout' ? 504 : 502, error: kind });
      },
    };
    res.on('finish', () => finish({ kind: 'forwarded', status, upstreamSeconds }));
    // The client went away before the answer was complete: stop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) {
        cancelled = true;
        abortUpstream?.();
        finish({ kind: 'aborted', status: res.headersSent ? res.statusCode : 499 });
      }
    });
    const hasBody =
      ctx.body !== undefined ||
      req.headers['content-length'] !== undefined ||
      req.headers['transfer-encoding'] !== undefined;
    this.pool.dispatch(
      {
        method: req.method as Dispatcher.HttpMethod,
        path: this.basePath + ctx.path + ctx.query,
        headers: this.upstreamHeaders(ctx),
        body: ctx.body ?? (hasBody ? req : null),
      },
      handler,
    );
  }

  close(): void {
    void this.pool.destroy();
  }
}
