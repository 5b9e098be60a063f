/**
 * Delivering the authorization response (success or error) to the client's redirect_uri in the
 * requested mode: plain `query` / `fragment` / `form_post` (with the RFC 9207 `iss` parameter, required
 * by the FAPI 2.0 Security Profile §5.3.2.2 against mix-up), or JARM (`query.jwt`, `fragment.jwt`,
 * `form_post.jwt`, JARM §2.3): one `response` JWT with iss, aud, exp (at most 10 minutes ahead) and the
 * parameters, signed with the client's `authorization_signed_response_alg`.
 */
import type { JWTPayload } from 'jose';
import { redirectResponse, renderFormPostPage, type PageResponse } from '../pages/index.js';
import type { ResponseTarget } from './authorization-request.js';
import { LIFETIME_DEFAULTS } from '../defaults.js';

/** Signs a JWT with the issuer's active key for `alg` (the issuer's key ring implements it). */
export interface JwtSigner {
  sign(claims: JWTPayload, opts: { alg: 'PS256' | 'ES256'; typ?: string }): Promise<string>;
}

export const JARM_MAX_TTL_SECONDS = 600;
export const JARM_DEFAULT_TTL_SECONDS = LIFETIME_DEFAULTS.authorizationResponseSeconds;

export type AuthorizationResponseDelivery =
  | { kind: 'redirect'; location: string }
  | { kind: 'form_post'; action: string; fields: Record<string, string> };

export interface ResponseOptions {
  issuer: string;
  signer: JwtSigner;
  /** Seconds since the epoch. */
  now: number;
  jarmTtlSeconds?: number;
}

/** Appends parameters to the query (keeping the registered URI's own query, RFC 6749 §3.1.2). */
function withQuery(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) url.searchParams.append(k, v);
  return url.href;
}

function withFragment(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  url.hash = new URLSearchParams(params).toString();
  return url.href;
}

/**
 * The response for `params` (code, id_token, … or error, error_description). `state` is taken from the
 * target so that errors echo it too (RFC 6749 §4.1.2.1).
 */
export async function authorizationResponse(
  target: ResponseTarget,
  params: Record<string, string>,
  opts: ResponseOptions,
): Promise<AuthorizationResponseDelivery> {
  const all: Record<string, string> = {
    ...params,
    ...(target.state !== undefined ? { state: target.state } : {}),
  };
  let fields: Record<string, string>;
  const mode = target.responseMode;
  if (mode.endsWith('.jwt')) {
    const ttl = Math.min(opts.jarmTtlSeconds ?? JARM_DEFAULT_TTL_SECONDS, JARM_MAX_TTL_SECONDS);
    const response = await opts.signer.sign(
      { ...all, iss: opts.issuer, aud: target.clientId, iat: opts.now, exp: opts.now + ttl },
      { alg: target.jarmAlg },
    );
    fields = { response };
  } else {
    fields = { ...all, iss: opts.issuer };
  }
  if (mode === 'query' || mode === 'query.jwt')
    return { kind: 'redirect', location: withQuery(target.redirectUri, fields) };
  if (mode === 'fragment' || mode === 'fragment.jwt')
    return { kind: 'redirect', location: withFragment(target.redirectUri, fields) };
  return { kind: 'form_post', action: target.redirectUri, fields };
}

/** The HTTP answer for a delivery: a 303 redirect, or the auto-submitting form_post page. */
export function deliveryPage(delivery: AuthorizationResponseDelivery): PageResponse {
  return delivery.kind === 'redirect'
    ? redirectResponse(delivery.location)
    : renderFormPostPage(delivery.action, delivery.fields);
}
