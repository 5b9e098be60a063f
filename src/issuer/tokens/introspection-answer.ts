/**
 * What introspection says about a token (RFC 7662 §2.2), and to whom (§4, token scanning):
 * - the caller has authenticated with one of the FAPI client authentication methods (the endpoint
 *   does that before asking here);
 * - a client registered with `introspection: true` (a resource server such as the gateway) gets the
 *   full answer for any token, access or refresh;
 * - any other client gets the full answer only for a token issued to itself, and `{"active": false}`
 *   for everyone else's, exactly what it gets for garbage, so it cannot scan for valid tokens.
 * `token_type` is the RFC 6749 §7.1 type a resource server must demand: `DPoP` for a DPoP-bound access
 * token (RFC 9449 §6.2), `Bearer` otherwise, `refresh_token` for refresh tokens (never valid at an RS).
 */
import type { ClientConfig } from '../config.js';
import type { JsonBody } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';
import { tokenKey } from '../storage/store.js';
import { verifyOwnAccessToken } from './verify-access-token.js';

export const INACTIVE: JsonBody = Object.freeze({ active: false });

interface FoundToken {
  owner: string;
  body: JsonBody;
}

async function asAccessToken(token: string, runtime: IssuerRuntime): Promise<FoundToken | undefined> {
  const active = await verifyOwnAccessToken(token, runtime);
  if (!active) return undefined;
  const p = active.payload;
  return {
    owner: p.client_id,
    body: {
      active: true,
      token_type: p.cnf?.jkt !== undefined ? 'DPoP' : 'Bearer',
      scope: p.scope,
      client_id: p.client_id,
      sub: p.sub,
      aud: p.aud,
      iss: p.iss,
      exp: p.exp,
      iat: p.iat,
      jti: p.jti,
      ...(p.auth_time !== undefined ? { auth_time: p.auth_time } : {}),
      ...(p.acr !== undefined ? { acr: p.acr } : {}),
      ...(p.cnf ? { cnf: p.cnf } : {}),
    },
  };
}

async function asRefreshToken(token: string, runtime: IssuerRuntime): Promise<FoundToken | undefined> {
  const record = await runtime.storage.refreshTokens.findRefreshToken(tokenKey(token));
  if (!record || record.exp <= runtime.clock.nowSeconds()) return undefined;
  return {
    owner: record.clientId,
    body: {
      active: true,
      token_type: 'refresh_token',
      scope: record.scope,
      client_id: record.clientId,
      sub: record.sub,
      iss: runtime.urls.issuer,
      exp: record.exp,
      iat: record.iat,
    },
  };
}

/** True when `caller` may see the claims of a token issued to `owner` (RFC 7662 §4). */
export function mayIntrospect(caller: ClientConfig, owner: string): boolean {
  return caller.introspection || caller.clientId === owner;
}

/** The introspection answer for `caller`: the token's claims, or `{"active": false}`. */
export async function introspectionAnswer(
  token: string,
  hint: string | undefined,
  caller: ClientConfig,
  runtime: IssuerRuntime,
): Promise<JsonBody> {
  // RFC 7662 §2.1: the hint only orders the lookups; a wrong hint still finds the token.
  const order = hint === 'refresh_token' ? [asRefreshToken, asAccessToken] : [asAccessToken, asRefreshToken];
  for (const attempt of order) {
    const found = await attempt(token, runtime);
    if (found) return mayIntrospect(caller, found.owner) ? found.body : INACTIVE;
  }
  return INACTIVE;
}
