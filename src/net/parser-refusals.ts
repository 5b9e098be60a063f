/**
 * What an HTTP server does with the errors Node's HTTP parser raises before a request exists (its
 * `clientError` event), shared by the gateway and the issuer so both draw the same line between the
 * connection layer and the HTTP layer.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Errors with no HTTP request to answer: Node's HTTPS server passes every failed TLS handshake (a handshake
 * timeout among them) on as a client error, a reset peer cannot read an answer, and a socket already
 * closing cannot take one. The connection guard (src/tls/connection-guard.ts) counts the TLS ones.
 * Destroys the socket and returns true for those.
 */
export function closedWithoutAnswer(err: NodeJS.ErrnoException, socket: Duplex): boolean {
  const code = err.code ?? '';
  if (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code === 'ECONNRESET' ||
    !socket.writable
  ) {
    socket.destroy();
    return true;
  }
  return false;
}

export type ParserRefusalReason = 'headers_too_large' | 'request_timeout' | 'malformed_request';

/** The refusal for a parser error code (RFC 9112): anything not named is a malformed message. */
export function parserRefusal(err: NodeJS.ErrnoException): {
  reason: ParserRefusalReason;
  description: string;
} {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { reason: 'headers_too_large', description: 'the request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { reason: 'request_timeout', description: 'the request was not received in time' };
    default:
      return { reason: 'malformed_request', description: 'the request is not valid HTTP/1.1' };
  }
}

/**
 * A complete HTTP/1.1 response written straight to the socket, for answers the HTTP server's own response
 * object cannot give (no request was parsed). Always `Connection: close`: the parser cannot resynchronise.
 */
export function rawHttpResponse(
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string,
): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nDate: ${new Date().toUTCString()}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
