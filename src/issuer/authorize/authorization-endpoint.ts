/**
 * The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2). Requests arrive as `client_id` +
 * `request_uri` from PAR, or (FAPI 1 Advanced clients that do not require PAR) with a signed request
 * object by value. Errors are redirected to the client only when the redirect_uri is a registered one;
 * otherwise the error page is shown: never the login page, never a redirect to an unverified URI.
 */
import { randomBytes } from 'node:crypto';
import { browserSessionOf, sessionCookie, type PageResponse } from '../pages/index.js';
import { renderRefusalPage } from '../steps/render-error.js';
import type { ClientConfig } from '../config.js';
import { authorizationRefusal, type AuthorizationRefusal, type Checked } from './authorization-error.js';
import type { AuthorizationContext } from './authorization-context.js';
import { authorizationRequestOf, responseTargetOf } from './authorization-request.js';
import { errorToClient } from './authorization-outcome.js';
import { authorizationClientOf, requiresPushedRequests } from './client-policy.js';
import { continueInteraction } from './interaction.js';
import { REQUEST_URI_PREFIX } from './pushed-authorization-endpoint.js';
import { signedAuthorizationParameters } from './request-parameters.js';

function errorPage(
  ctx: AuthorizationContext,
  refusal: AuthorizationRefusal,
  clientId?: string,
): PageResponse {
  ctx.outcome('authorize', clientId, refusal.error);
  ctx.runtime.metrics.refusals.inc({ reason: refusal.reason });
  return renderRefusalPage(refusal);
}

/**
 * Where an error about a request that could not be verified goes. Under PAR (required for the client, or
 * a request_uri was sent) the parameters outside the pushed request are not the client's: they must not
 * choose where and how the error goes (a signed JARM error would carry an attacker-chosen state), so it
 * is shown on the error page (RFC 9126 §4). Otherwise to the client's redirect_uri if the request named a
 * registered one (RFC 6749 §4.1.2.1), else the error page.
 */
async function refuseRequest(
  ctx: AuthorizationContext,
  client: ClientConfig,
  outer: Record<string, string>,
  refusal: AuthorizationRefusal,
): Promise<PageResponse> {
  const authorizationClient = authorizationClientOf(client, ctx.profile);
  if (outer['request_uri'] !== undefined || requiresPushedRequests(client, authorizationClient.profile))
    return errorPage(ctx, refusal, client.clientId);
  const target = responseTargetOf(outer, authorizationClient);
  if (!target.ok) return errorPage(ctx, refusal, client.clientId);
  return errorToClient(ctx, target.value, refusal, 'authorize');
}

async function pushedParameters(
  ctx: AuthorizationContext,
  client: ClientConfig,
  requestUri: string,
): Promise<Checked<Record<string, unknown>>> {
  const invalid = {
    ok: false as const,
    refusal: authorizationRefusal(
      'invalid_request_uri',
      'request_uri is unknown, expired, already used or belongs to another client',
    ),
  };
  if (!requestUri.startsWith(REQUEST_URI_PREFIX)) return invalid;
  // Identify first, then consume: a client that learns another's request_uri must not use it up.
  const seen = await ctx.store.peekPushedRequest(requestUri);
  if (!seen || seen.clientId !== client.clientId || seen.expiresAt < ctx.now()) return invalid;
  const pushed = await ctx.store.takePushedRequest(requestUri);
  if (!pushed) return invalid;
  return { ok: true, value: pushed.parameters };
}

export async function authorize(
  ctx: AuthorizationContext,
  query: Record<string, string>,
  cookie: string | undefined,
): Promise<PageResponse> {
  const clientId = query['client_id'];
  if (clientId === undefined || clientId === '')
    return errorPage(ctx, authorizationRefusal('invalid_request', 'client_id is required'));
  const client = await ctx.findClient(clientId);
  if (!client) return errorPage(ctx, authorizationRefusal('invalid_request', 'unknown client_id'));

  let params: Checked<Record<string, unknown>>;
  const requestUri = query['request_uri'];
  if (requestUri !== undefined) {
    if (query['request'] !== undefined)
      return refuseRequest(
        ctx,
        client,
        query,
        authorizationRefusal('invalid_request', 'request and request_uri cannot be used together'),
      );
    params = await pushedParameters(ctx, client, requestUri);
  } else if (requiresPushedRequests(client, authorizationClientOf(client, ctx.profile).profile)) {
    return refuseRequest(
      ctx,
      client,
      query,
      authorizationRefusal(
        'invalid_request',
        'this client must push its authorization requests (PAR, RFC 9126) and send request_uri',
      ),
    );
  } else {
    params = await signedAuthorizationParameters(ctx, client, query);
  }
  if (!params.ok) return refuseRequest(ctx, client, query, params.refusal);

  const authorizationClient = authorizationClientOf(client, ctx.profile);
  const target = responseTargetOf(params.value, authorizationClient);
  if (!target.ok) return errorPage(ctx, target.refusal, client.clientId);
  if (target.refusal) return errorToClient(ctx, target.value, target.refusal, 'authorize');
  const request = authorizationRequestOf(params.value, authorizationClient, target.value);
  if (!request.ok) return errorToClient(ctx, target.value, request.refusal, 'authorize');

  const { session, isNew } = await browserSessionOf(ctx.sessions, cookie);
  if (isNew) await ctx.sessions.save(session);
  const interaction = {
    id: randomBytes(24).toString('base64url'),
    sessionId: session.id,
    request: request.value,
    target: target.value,
    expiresAt: ctx.now() + ctx.lifetimes.interactionSeconds,
  };
  await ctx.store.saveInteraction(interaction);
  const page = await continueInteraction(ctx, interaction, session, 'authorize');
  return isNew
    ? {
        ...page,
        headers: { ...page.headers, 'Set-Cookie': sessionCookie(session.id, ctx.lifetimes.sessionSeconds) },
      }
    : page;
}
