/**
 * Refresh tokens (for the authorization code and CIBA grants): opaque 256-bit values, stored only as
 * their SHA-256 (`tokenKey`), bound to the client (RFC 6749 §6: "the refresh token is bound to the
 * client to which it was issued") and to the grant, rotated on every use; presenting a rotated token
 * again revokes the grant, i.e. the whole family (RFC 9700 §4.14.2). Client credentials never get one
 * (RFC 6749 §4.4.3).
 *
 * Not bound to a client certificate: the client authenticates on every refresh (its certificate's subject
 * for tls_client_auth, its key for private_key_jwt), which is the binding RFC 6749 §6 asks for; tying the
 * token to one certificate would end every grant at a routine certificate renewal without adding
 * protection. The new access token is bound to the certificate (or DPoP key) of the refresh request.
 *
 * DPoP (RFC 9449 §5): a confidential client's refresh token is not bound to its DPoP key (client
 * authentication already sender-constrains it), but the grant keeps the key its first access token was
 * bound to (`dpopJkt` on the record, carried over on rotation), and the refresh_token grant accepts only a
 * proof of that same key, so a grant that started DPoP-bound stays bound to one key for its life.
 */
import type { IssuerRuntime } from '../runtime.js';
import { tokenKey, type RefreshTokenRecord } from '../storage/store.js';
import { invalidGrant } from '../errors.js';
import { randomValue } from './random.js';

export interface RefreshTokenGrant {
  grantId: string;
  clientId: string;
  sub: string;
  scope: string;
  /** The DPoP key the grant's access tokens are bound to (RFC 7638 thumbprint). */
  dpopJkt?: string;
}

/** The DPoP key a refresh token's grant is bound to, if any. */
export function refreshTokenDpopJkt(record: RefreshTokenRecord): string | undefined {
  return record.dpopJkt;
}

function recordFor(runtime: IssuerRuntime, value: string, grant: RefreshTokenGrant): RefreshTokenRecord {
  const iat = runtime.clock.nowSeconds();
  return {
    key: tokenKey(value),
    grantId: grant.grantId,
    clientId: grant.clientId,
    sub: grant.sub,
    scope: grant.scope,
    iat,
    exp: iat + runtime.config.refreshTokens.ttlSeconds,
    ...(grant.dpopJkt !== undefined ? { dpopJkt: grant.dpopJkt } : {}),
  };
}

/**
 * Until when a grant (and its revocation) must be remembered: the lifetime of a refresh token issued
 * now, the longest-lived token of a grant.
 */
export function grantExpiresAtMs(runtime: IssuerRuntime): number {
  return runtime.clock.nowMs() + runtime.config.refreshTokens.ttlSeconds * 1000;
}

/** Issues a new refresh token (first issue of a grant). Resolves the token value. */
export async function issueRefreshToken(runtime: IssuerRuntime, grant: RefreshTokenGrant): Promise<string> {
  const value = randomValue();
  await runtime.storage.refreshTokens.saveRefreshToken(recordFor(runtime, value, grant));
  return value;
}

/**
 * Exchanges `presented` for a new refresh token. Throws invalid_grant for an unknown, expired,
 * revoked or other client's token, and for a reused one (after revoking its family).
 */
export async function rotateRefreshToken(
  runtime: IssuerRuntime,
  presented: string,
  clientId: string,
): Promise<{ value: string; previous: RefreshTokenRecord }> {
  const key = tokenKey(presented);
  const current = await runtime.storage.refreshTokens.findRefreshToken(key);
  if (current && current.clientId !== clientId)
    throw invalidGrant('the refresh token was issued to another client', 'refresh_token_client_mismatch');
  const value = randomValue();
  const dpopJkt = current ? refreshTokenDpopJkt(current) : undefined;
  const next = recordFor(runtime, value, {
    grantId: current?.grantId ?? '',
    clientId,
    sub: current?.sub ?? '',
    scope: current?.scope ?? '',
    ...(dpopJkt !== undefined ? { dpopJkt } : {}),
  });
  const outcome = await runtime.storage.refreshTokens.rotateRefreshToken(key, next);
  if (outcome.outcome === 'reused') {
    runtime.log.warn(
      { clientId, grantId: outcome.previous.grantId },
      'rotated refresh token presented again: grant revoked (RFC 9700 §4.14.2)',
    );
    throw invalidGrant('the refresh token was already used; the grant is revoked', 'refresh_token_reused');
  }
  if (outcome.outcome === 'unknown' || !current)
    throw invalidGrant('the refresh token is invalid, expired or revoked', 'refresh_token_invalid');
  return { value, previous: outcome.previous };
}
