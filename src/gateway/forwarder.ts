/**
 * Forwarding to the protected API over keep-alive connections. Method, path (as matched), query and body
 * go unchanged; headers the gateway asserts are removed from the inbound request first and then set from
 * the TLS connection and the verified token, so no client can forge them.
 *
 * Built on node:http(s) with a keep-alive Agent rather than http-proxy-3 or undici. Measured on this
 * 2-core machine (plain-HTTP proxy in front of an echo upstream, autocannon -c 50, 6 s, 3 rounds each,
 * machine shared with other test runs so load average ~16): medians node:http 1676 req/s, undici 1660,
 * http-proxy-3 1553. None was clearly faster; node:http has no extra layer and keeps the header rules
 * below one explicit list instead of proxy event hooks, and its errors arrive on one 'error' listener.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
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
    forwardHeaders.clientId.toLowerCase(),
    forwardHeaders.subject.toLowerCase(),
    forwardHeaders.scope.toLowerCase(),
  ]);
}

const STRIPPED_PREFIXES = ['x-forwarded-', 'x-ssl-', 'x-client-cert-'];

function isStripped(lower: string, names: Set<string>, connectionListed: Set<string> | undefined): boolean {
  if (names.has(lower) || connectionListed?.has(lower)) return true;
  for (const p of STRIPPED_PREFIXES) if (lower.startsWith(p)) return true;
  return false;
}

/** Headers named by `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionListedNames(req: IncomingMessage): Set<string> | undefined {
  const c = req.headers.connection;
  if (c === undefined) return undefined;
  return new Set(c.split(',').map((s) => s.trim().toLowerCase()));
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

export class Forwarder {
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly basePath: string;
  private readonly stripped: Set<string>;
  private readonly names: ForwarderOptions['forwardHeaders'];

  constructor(private readonly options: ForwarderOptions) {
    const url = new URL(options.url);
    const secure = url.protocol === 'https:';
    this.transport = secure ? https : http;
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || (secure ? 443 : 80));
    this.basePath = url.pathname.replace(/\/+$/, '');
    const agentOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets,
      maxFreeSockets: options.maxSockets,
      scheduling: 'lifo' as const,
    };
    this.agent = secure
      ? new https.Agent({ ...agentOptions, ca: options.caPem })
      : new http.Agent(agentOptions);
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
    const v = ctx.verified!;
    out.push(
      'Client-Cert',
      ctx.connection.clientCertHeader,
      this.names.clientId,
      v.clientId,
      this.names.subject,
      v.subject,
      this.names.scope,
      v.scope,
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
    const started = performance.now();
    let timedOut = false;
    let settled = false;
    const finish = (result: ForwardResult) => {
      if (settled) return;
      settled = true;
      done(result);
    };
    const upstream = this.transport.request({
      agent: this.agent,
      host: this.host,
      port: this.port,
      method: req.method,
      path: this.basePath + ctx.path + ctx.query,
      headers: this.upstreamHeaders(ctx),
      setHost: false,
    });
    upstream.setTimeout(this.options.timeoutMs, () => {
      timedOut = true;
      upstream.destroy(new Error('upstream timeout'));
    });
    upstream.on('response', (up) => {
      const upstreamSeconds = (performance.now() - started) / 1000;
      const headers: string[] = [];
      const raw = up.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i]!.toLowerCase();
        if (HOP_BY_HOP.includes(lower) || lower === 'x-fapi-interaction-id') continue;
        headers.push(raw[i]!, raw[i + 1]!);
      }
      // FAPI: the interaction id comes back on every response, whatever the upstream did with it.
      headers.push('x-fapi-interaction-id', ctx.interactionId);
      res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
      up.pipe(res);
      up.on('error', () => res.destroy());
      res.on('finish', () => finish({ kind: 'forwarded', status: up.statusCode ?? 502, upstreamSeconds }));
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      const kind = classifyUpstreamError(err, timedOut);
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
    });
    // The client went away before the answer was complete: stop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) {
        upstream.destroy();
        finish({ kind: 'aborted', status: res.headersSent ? res.statusCode : 499 });
      }
    });
    if (ctx.body !== undefined) upstream.end(ctx.body);
    else req.pipe(upstream);
  }

  close(): void {
    this.agent.destroy();
  }
}
