/** What the pipeline knows about one request as its checks run. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Reject } from './rejections.js';
import type { CompiledRoute } from './routes.js';
import type { ConnectionTokenMemo, VerifiedAccessToken } from './access-token.js';

/** Facts about the TLS connection, computed once when the handshake completes (see listener.ts). */
export interface ConnectionIdentity {
  /** RFC 8705 §3.1 x5t#S256 of the client's leaf certificate. */
  thumbprint: string;
  /** RFC 9440 §2 `Client-Cert` value: `:base64(DER):`. */
  clientCertHeader: string;
  /** The last token verified on this connection (see access-token.ts). */
  tokenMemo: ConnectionTokenMemo;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  connection: ConnectionIdentity;
  /** performance.now() when the request arrived. */
  startedAt: number;
  /** The request's valid x-fapi-interaction-id, or a fresh UUID v4 (FAPI 1 Advanced §6.2.1-11). */
  interactionId: string;
  /** The normalised path (set by the route check), forwarded as matched. */
  path: string;
  /** The query string including its `?`, or ''. */
  query: string;
  route?: CompiledRoute;
  /** The bearer token as presented (never logged). */
  token?: string;
  verified?: VerifiedAccessToken;
  /** A form body the presentation check had to read (it is forwarded as read). */
  body?: Buffer;
}

/** A rule: `undefined` lets the request pass, a Reject answers it. Async only when it must wait (I/O). */
export type Check = (ctx: RequestContext) => Reject | undefined | Promise<Reject | undefined>;
