/**
 * The request and reply values endpoints work with: an endpoint gets an `IssuerRequest` and returns a
 * `Reply` (or throws an OAuthError); only server.ts touches the sockets.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { PresentedCertificate } from './tls/client-certificate.js';

export type ListenerName = 'main' | 'mtls';

export interface IssuerRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Which listener received the request (`mtls` = the mtls_endpoint_aliases one). */
  listener: ListenerName;
  /** The public URL of this path on the listener that received the request. */
  publicUrl: string;
  /** The connection's client certificate, when one was presented. */
  certificate: PresentedCertificate | undefined;
  /** The raw request (body stream); read it through steps/form-body.ts. */
  raw: IncomingMessage;
}

export type JsonBody = { [key: string]: unknown };

export interface Reply {
  status: number;
  headers?: Record<string, string | string[]>;
  /** An object is sent as JSON; a string or Buffer as is (set Content-Type in `headers`). */
  body?: JsonBody | string | Buffer;
}

/** RFC 6749 §5.1: responses carrying tokens or credentials must not be cached. */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export function jsonReply(body: JsonBody, status = 200, headers: Record<string, string> = {}): Reply {
  return { status, headers: { ...NO_STORE, ...headers }, body };
}
