/**
 * What the issuer answers when Node's HTTP parser refuses a request before it exists (RFC 9112): a
 * malformed message, headers over the parser's limit, a client too slow to send them. Without this Node
 * writes a bare status line, with no JSON, log line or metric; here it is an RFC 6749 §5.2 refusal like
 * any other, counted, and the connection is closed (the parser cannot resynchronise).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { closedWithoutAnswer, parserRefusal, rawHttpResponse } from '../net/parser-refusals.js';
import { OAuthError } from './errors.js';
import type { IssuerMetrics } from './metrics.js';
import { countRefusal, renderOAuthError } from './steps/render-error.js';

/** Node's socket under an HTTP server: `_httpMessage` is the response in progress on it, if any. */
type HttpSocket = Socket & { _httpMessage?: object | null };

export function refuseUnparsedRequests(
  metrics: IssuerMetrics,
  log: Logger,
): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    if (closedWithoutAnswer(err, socket)) return;
    const { reason, description } = parserRefusal(err);
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
    socket.end(
      rawHttpResponse(
        reply.status,
        { ...reply.headers, 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' },
        JSON.stringify(reply.body),
      ),
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
