/**
 * The contract every access-token verifier implements (local JWT validation, RFC 7662 introspection):
 * the pipeline, readiness, metrics and the per-connection memo see only this, never which one ran.
 */
import type { Reject } from '../rejections.js';

/**
 * What the token is bound to (its `cnf` claim): a client certificate (RFC 8705 §3.1 `x5t#S256`) or a
 * DPoP key (RFC 9449 §6 `jkt`). FAPI allows no bearer tokens, so an unbound token is refused.
 */
export type TokenBinding = { kind: 'mtls'; x5t: string } | { kind: 'dpop'; jkt: string };

/** What the rest of the pipeline needs from a verified token, computed once per token. */
export interface VerifiedAccessToken {
  clientId: string;
  subject: string;
  /** The `scope` as issued (space separated), '' when absent. */
  scope: string;
  scopes: ReadonlySet<string>;
  /** undefined when the token carries no confirmation the gateway understands. */
  binding: TokenBinding | undefined;
  /** `exp`, unix seconds. */
  expiresAt: number;
}

/**
 * The last token verified on one TLS connection (steady clients present the same token on every request
 * of a keep-alive connection): a string comparison then replaces hashing and the shared cache's lookup.
 * It holds the one token the connection is using anyway, and is dropped with the connection.
 */
export interface ConnectionTokenMemo {
  token?: string;
  verified?: VerifiedAccessToken;
  /** The verifier that verified it: only that verifier may answer from the memo. */
  owner?: TokenVerifier;
  /** The owner's own validity marker (the JWT verifier's key-set generation). */
  generation?: number;
}

export interface TokenVerifier {
  /** 'jwt' | 'introspection': for metrics and logs. */
  readonly kind: string;
  /**
   * A verified token or the reason it is refused. Synchronous whenever the answer is known without I/O
   * (the hot path allocates no promise); `memo` is the connection's, see ConnectionTokenMemo.
   */
  verify(
    token: string,
    memo?: ConnectionTokenMemo,
  ): VerifiedAccessToken | Reject | Promise<VerifiedAccessToken | Reject>;
  /** Whether it can verify now (readiness); a verifier whose dependency is remote by design may always be. */
  ready(): boolean;
  /** Resolves once ready; never rejects. */
  whenReady(): Promise<void>;
  /** Stops background work (refreshes, timers). */
  stop(): void;
}

export function isReject(v: VerifiedAccessToken | Reject): v is Reject {
  return 'reason' in v;
}
