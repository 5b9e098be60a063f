/** What the pipeline knows about one request as its checks run, and the shape of a check. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Reject } from './rejections.js';
import type { CompiledRoute } from './routes.js';
import type { ConnectionTokenMemo, VerifiedAccessToken } from './tokens/verifier.js';
import type { ProxiedCertificateMemo } from './trusted-proxies.js';

/** The client certificate a request is made with (from the TLS connection, or a trusted terminator). */
export interface ClientCertificate {
  /** RFC 8705 §3.1 x5t#S256 of the client's leaf certificate. */
  thumbprint: string;
  /** RFC 9440 §2 `Client-Cert` value: `:base64(DER):`. */
  clientCertHeader: string;
}

/** Facts about the TLS connection, computed once when the handshake completes (see listener.ts). */
export interface ConnectionIdentity {
  /** The certificate the client presented in the handshake; undefined when it presented none. */
  certificate?: ClientCertificate;
  /** The last token verified on this connection (see tokens/verifier.ts). */
  tokenMemo: ConnectionTokenMemo;
  /**
   * The peer is a trusted TLS-terminating proxy (trustedProxies.cidrs): client certificates come from
   * its `Client-Cert` headers (RFC 9440), never from this connection, and `certificate` is undefined.
   */
  trustedProxy?: boolean;
  /** The last `Client-Cert` value on a proxy's connection and what it established (trusted-proxies.ts). */
  proxiedCertificate?: ProxiedCertificateMemo;
}

/** How the access token was presented (RFC 6750 §2.1 `Bearer`, RFC 9449 §7.1 `DPoP`). */
export interface PresentedCredentials {
  scheme: 'bearer' | 'dpop';
  /** The token as presented (never logged). */
  token: string;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  connection: ConnectionIdentity;
  /** The client certificate this request is made with: set when the request starts. */
  certificate: ClientCertificate | undefined;
  /** performance.now() when the request arrived. */
  startedAt: number;
  /** The request's valid x-fapi-interaction-id, or a fresh UUID v4 (FAPI 1 Advanced §6.2.1-11). */
  interactionId: string;
  /** The normalised path (set by the route check), forwarded as matched. */
  path: string;
  /** The query string including its `?`, or ''. */
  query: string;
  route?: CompiledRoute;
  credentials?: PresentedCredentials;
  /** The scheme of the Authorization header, once recognised (even if its credentials are then refused). */
  presentedScheme?: PresentedCredentials['scheme'];
  /** The verified token, as soon as the token check passed (later checks may still fail). */
  verified?: VerifiedAccessToken;
  /**
   * The identity forwarded upstream: set by the check runner only when every check passed, so a call
   * forwarded in report-only mode despite a failure carries no identity from its token.
   */
  identity?: VerifiedAccessToken;
  /** Failures of reportable checks on a report-only route (the call is forwarded anyway). */
  wouldReject?: Reject[];
  /**
   * RFC 9449 §8.2: the nonce the answer carries on a route that requires DPoP nonces; the forwarder then
   * sends it in `DPoP-Nonce` with `Cache-Control: no-store`, replacing the upstream's.
   */
  dpopNonce?: string;
  /** A form body that had to be read (it is forwarded as read). */
  body?: Buffer;
  /** What kind of form `body` is. */
  bodyType?: 'form' | 'multipart';
}

/**
 * What a check establishes about the request. A check runs only when every fact it requires was
 * established; on a report-only route a failed check's facts are missing and the checks needing them
 * are skipped (not failed).
 */
export type Fact = 'route' | 'headers' | 'body' | 'credentials' | 'token' | 'binding' | 'scope';

export interface Check {
  /** For logs and tests. */
  readonly name: string;
  readonly requires: readonly Fact[];
  readonly provides: readonly Fact[];
  /**
   * Whether a report-only route may forward a call this check refuses. Never for route matching, unsafe
   * paths and size limits: those protect the gateway and the upstream, not the API's authorisation.
   */
  readonly reportable: boolean;
  /** `undefined` lets the request pass, a Reject refuses it. Async only when it must wait (I/O). */
  run(ctx: RequestContext): Reject | undefined | Promise<Reject | undefined>;
}
