/**
 * The end of an authorization request: an authorization code (and, for `code id_token`, a front-channel
 * ID token that is a detached signature over code and state, FAPI 1 Advanced §5.2.2.1) or an error,
 * delivered to the client's registered redirect_uri in the requested response mode.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { EndUserAuthentication, PageResponse } from '../pages/index.js';
import type { AuthorizationRefusal } from './authorization-error.js';
import type { AuthorizationContext } from './authorization-context.js';
import type { AuthorizationRequest, ResponseTarget } from './authorization-request.js';
import { authorizationResponse, deliveryPage } from './authorization-response.js';
import { signIdToken } from '../tokens/id-token.js';

/** An error sent back to the client (only ever to a target whose redirect_uri was verified). */
export async function errorToClient(
  ctx: AuthorizationContext,
  target: ResponseTarget,
  refusal: AuthorizationRefusal,
  endpoint: 'authorize' | 'login' | 'consent',
): Promise<PageResponse> {
  ctx.outcome(endpoint, target.clientId, refusal.error);
  ctx.runtime.metrics.refusals.inc({ reason: refusal.reason });
  const delivery = await authorizationResponse(
    target,
    { error: refusal.error, error_description: refusal.description },
    { issuer: ctx.issuer, signer: ctx.signer, now: ctx.now(), jarmTtlSeconds: ctx.lifetimes.jarmSeconds },
  );
  return deliveryPage(delivery);
}

/** Issues the authorization code (>= 256 bits, single use, short-lived) and delivers it. */
export async function codeToClient(
  ctx: AuthorizationContext,
  request: AuthorizationRequest,
  target: ResponseTarget,
  authentication: EndUserAuthentication,
  acr: string | undefined,
  endpoint: 'authorize' | 'login' | 'consent',
): Promise<PageResponse> {
  const now = ctx.now();
  const code = randomBytes(32).toString('base64url');
  await ctx.store.saveCode(code, {
    grantId: randomUUID(),
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    codeChallenge: request.codeChallenge,
    scopes: request.scopes,
    sub: authentication.sub,
    authTime: authentication.authTime,
    expiresAt: now + ctx.lifetimes.codeSeconds,
    ...(acr !== undefined ? { acr } : {}),
    ...(authentication.amr !== undefined ? { amr: authentication.amr } : {}),
    ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
    ...(request.claims !== undefined ? { claims: request.claims } : {}),
    ...(request.dpopJkt !== undefined ? { dpopJkt: request.dpopJkt } : {}),
  });
  const params: Record<string, string> = { code };
  if (request.responseType === 'code id_token') {
    const client = await ctx.findClient(request.clientId);
    if (!client) throw new Error('the client of an interaction disappeared');
    // No end-user claims in the front channel: the detached signature passes through the browser
    // (FAPI 1 Advanced privacy considerations); claims come from the token endpoint and userinfo.
    params['id_token'] = await signIdToken(ctx.runtime, {
      client,
      sub: authentication.sub,
      authTime: authentication.authTime,
      code,
      ...(acr !== undefined ? { acr } : {}),
      ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
      ...(request.state !== undefined ? { state: request.state } : {}),
    });
  }
  ctx.outcome(endpoint, request.clientId, 'code_issued');
  const delivery = await authorizationResponse(target, params, {
    issuer: ctx.issuer,
    signer: ctx.signer,
    now,
    jarmTtlSeconds: ctx.lifetimes.jarmSeconds,
  });
  return deliveryPage(delivery);
}
