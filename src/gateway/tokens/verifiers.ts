/**
 * The verifiers configured for this gateway and the rule that picks one per token: a JWS compact token
 * whose header `typ` is `at+jwt` (RFC 9068 §2.1) is validated locally; any other token goes to the opaque
 * verifier (RFC 7662 introspection) when one is configured. Built once per configuration.
 */
import { decodeProtectedHeader } from 'jose';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { reject, type Reject } from '../rejections.js';
import { isAccessTokenTyp } from '../../jose/access-token-typ.js';
import { JwtAndIntrospection } from '../introspection/jwt-and-introspection.js';
import { JwtVerifier, looksLikeCompactJws } from './jwt-verifier.js';
import type { ConnectionTokenMemo, TokenVerifier, VerifiedAccessToken } from './verifier.js';

export interface TokenVerifierDependencies {
  logger: Logger;
  /** PEM contents of tokens.jwksCa, read by the caller (reloads compare contents). */
  jwksCaPem: string | undefined;
  onJwksFetch?: (result: 'success' | 'failure') => void;
  onCacheHit?: () => void;
  /** The verifier for every token that is not a JWT access token (RFC 7662 introspection). */
  opaque?: TokenVerifier;
}

/** A JWS compact token whose protected header says `typ: at+jwt`. */
export function isJwtAccessToken(token: string): boolean {
  if (!looksLikeCompactJws(token)) return false;
  try {
    return isAccessTokenTyp(decodeProtectedHeader(token).typ);
  } catch {
    return false;
  }
}

export class TokenVerifiers {
  private readonly all: readonly TokenVerifier[];

  /** Where JWT access tokens go: the JWT verifier, or it followed by introspection (introspectJwts). */
  private readonly forJwts: TokenVerifier | undefined;

  constructor(
    /** Present when tokens.jwksUri is configured. */
    readonly jwt: JwtVerifier | undefined,
    readonly opaque: TokenVerifier | undefined,
    introspectJwts = false,
  ) {
    this.all = [jwt, opaque].filter((v): v is TokenVerifier => v !== undefined);
    this.forJwts =
      introspectJwts && jwt !== undefined && opaque !== undefined
        ? new JwtAndIntrospection(jwt, opaque)
        : jwt;
  }

  /** The verifier for this token, or undefined when no configured verifier accepts its kind. */
  private verifierFor(token: string): TokenVerifier | undefined {
    // JWT-only: every token goes to the JWT verifier, so each malformed token keeps its precise reason.
    if (this.opaque === undefined) return this.jwt;
    if (this.jwt === undefined) return this.opaque;
    return isJwtAccessToken(token) ? this.forJwts : this.opaque;
  }

  verify(
    token: string,
    memo: ConnectionTokenMemo | undefined,
  ): VerifiedAccessToken | Reject | Promise<VerifiedAccessToken | Reject> {
    // The connection's last token answers without classifying it again; only a current verifier may
    // answer from the memo (a reload replaces the verifiers, and the old ones' memos then count for nothing).
    const owner = memo?.token === token ? memo.owner : undefined;
    if (owner !== undefined && (owner === this.jwt || owner === this.opaque))
      return owner.verify(token, memo);
    const verifier = this.verifierFor(token);
    if (verifier === undefined)
      return reject('token_malformed', 'the access token is not a JWT access token');
    return verifier.verify(token, memo);
  }

  /** Ready when every verifier is (introspection is by design: readiness must not depend on the AS). */
  ready(): boolean {
    for (const v of this.all) if (!v.ready()) return false;
    return true;
  }

  whenReady(): Promise<void> {
    return Promise.all(this.all.map((v) => v.whenReady())).then(() => undefined);
  }

  stop(): void {
    for (const v of this.all) v.stop();
  }
}

/** The verifiers for one configuration's `tokens` section. */
export function buildTokenVerifiers(
  tokens: GatewayConfig['tokens'],
  deps: TokenVerifierDependencies,
): TokenVerifiers {
  const jwt =
    tokens.jwksUri === undefined
      ? undefined
      : new JwtVerifier(
          {
            issuer: tokens.issuer,
            audience: tokens.audience,
            algorithms: tokens.algorithms,
            clockSkewSeconds: tokens.clockSkewSeconds,
            cacheMaxEntries: tokens.cacheMaxEntries,
            onCacheHit: deps.onCacheHit,
          },
          {
            uri: tokens.jwksUri,
            extraCaPem: deps.jwksCaPem,
            cooldownSeconds: tokens.jwksCooldownSeconds,
            refreshSeconds: tokens.jwksRefreshSeconds,
            logger: deps.logger,
            onFetch: deps.onJwksFetch,
          },
        );
  return new TokenVerifiers(jwt, deps.opaque, tokens.introspection?.introspectJwts === true);
}
