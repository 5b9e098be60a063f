/**
 * What the issuer answers when Node's HTTP parser refuses a request before it exists (RFC 9112): a
 * malformed message, headers over the parser's limit, a client too slow to send them. Without this Node
 * writes a bare status line, with no JSON, log line or metric; here it is an RFC 6749 §5.2 refusal like
 * any other, counted, and the connection is closed (the parser cannot resynchronise).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { OAuthError } from './errors.js';
import type { IssuerMetrics } from './metrics.js';
import type { IssuerRefusalReason } from './refusals.js';
import { countRefusal, renderOAuthError } from './steps/render-error.js';

/** Node's socket under an HTTP server: `_httpMessage` is the response in progress on it, if any. */
type HttpSocket = Socket & { _httpMessage?: object | null };

const REFUSALS: Record<string, [IssuerRefusalReason, string]> = {
  HPE_HEADER_OVERFLOW: ['headers_too_large', 'the request headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'the request was not received in time'],
};

export function refuseUnparsedRequests(
  metrics: IssuerMetrics,
  log: Logger,
): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    const code = err.code ?? '';
    // Node's HTTPS server passes every failed TLS handshake on as a client error too: those are the
    // connection guard's to count (tls/server-options.ts); there is no HTTP request to answer.
    if (
      code.startsWith('ERR_TLS_') ||
      code.startsWith('ERR_SSL_') ||
      code === 'ECONNRESET' ||
      !socket.writable
    ) {
      socket.destroy();
      return;
    }
    const [reason, description] = REFUSALS[code] ?? [
      'malformed_request',
      'the request is not valid HTTP/1.1',
    ];
    const refusal = new OAuthError(reason, description);
    countRefusal(metrics, 'unmatched', refusal);
    metrics.requests.inc({ endpoint: 'unmatched', status: String(refusal.status) });
    log.info({ endpoint: 'unmatched', error: refusal.error, reason }, 'request refused');
    // A pipelined request broke while an earlier answer is being written: bytes now would land inside it.
    if ((socket as HttpSocket)._httpMessage) {
      socket.destroy();
      return;
    }
    const reply = renderOAuthError(refusal);
    const body = JSON.stringify(reply.body);
    const headers = {
      ...reply.headers,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      'X-Content-Type-Options': 'nosniff',
      Connection: 'close',
    };
    socket.end(
      `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n\r\n${body}`,
    );
  };
}

/** RFC 9112 §3.2: a request with more than one Host header line is refused with 400. */
export function hasRepeatedHost(rawHeaders: readonly string[]): boolean {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++seen > 1) return true;
  }
  return false;
}
