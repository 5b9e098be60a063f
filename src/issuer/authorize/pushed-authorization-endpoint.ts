/**
 * The pushed authorization request endpoint (RFC 9126): the client, already authenticated like at the
 * token endpoint, posts its signed request object; it is verified and checked completely here (an
 * invalid one is refused now with 400, RFC 9126 §2.3), stored, and referenced by a single-use
 * `request_uri` that expires in at most 600 seconds.
 */
import { randomBytes } from 'node:crypto';
import type { ClientConfig } from '../config.js';
import { OAuthError } from '../errors.js';
import { authorizationRefusal } from './authorization-error.js';
import type { AuthorizationContext } from './authorization-context.js';
import { authorizationRequestOf, responseTargetOf } from './authorization-request.js';
import { authorizationClientOf } from './client-policy.js';
import { signedAuthorizationParameters } from './request-parameters.js';

export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
const MAX_PUSHED_REQUEST_SECONDS = 600;

/** RFC 9126 §2.2: 201 with the request_uri; a refusal is an OAuthError answered as RFC 6749 §5.2 JSON. */
export interface PushedRequest {
  request_uri: string;
  expires_in: number;
}

/**
 * RFC 9449 §10.1: with a DPoP proof on the PAR request the code is bound to the proof's key; a
 * `dpop_jkt` sent as well must name that same key (`invalid_dpop_proof` otherwise).
 */
function withProofKey(
  params: Record<string, unknown>,
  dpopJkt: string | undefined,
): { ok: true; value: Record<string, unknown> } | { ok: false; refusal: OAuthError } {
  if (dpopJkt === undefined) return { ok: true, value: params };
  if (params['dpop_jkt'] !== undefined && params['dpop_jkt'] !== dpopJkt)
    return {
      ok: false,
      refusal: new OAuthError('par_dpop_jkt_mismatch', 'dpop_jkt does not match the key of the DPoP proof'),
    };
  return { ok: true, value: { ...params, dpop_jkt: dpopJkt } };
}

export async function pushAuthorizationRequest(
  ctx: AuthorizationContext,
  client: ClientConfig,
  form: Record<string, string>,
  /** Thumbprint of the key of a valid DPoP proof on the PAR request (RFC 9449 §10.1). */
  dpopJkt?: string,
): Promise<PushedRequest | OAuthError> {
  const answer = await pushedRequestAnswer(ctx, client, form, dpopJkt);
  ctx.outcome('par', client.clientId, answer instanceof OAuthError ? answer.error : 'accepted');
  return answer;
}

async function pushedRequestAnswer(
  ctx: AuthorizationContext,
  client: ClientConfig,
  form: Record<string, string>,
  dpopJkt: string | undefined,
): Promise<PushedRequest | OAuthError> {
  if (form['request_uri'] !== undefined)
    return authorizationRefusal(
      'invalid_request',
      'request_uri must not be sent to the PAR endpoint (RFC 9126 §2.1)',
    );
  if (form['client_id'] !== undefined && form['client_id'] !== client.clientId)
    return authorizationRefusal('invalid_request', 'client_id does not match the authenticated client');
  if (!client.grantTypes.includes('authorization_code'))
    return authorizationRefusal(
      'unauthorized_client',
      'the client is not registered for the authorization_code grant',
    );

  const signed = await signedAuthorizationParameters(ctx, client, form);
  if (!signed.ok) return signed.refusal;
  const params = withProofKey(signed.value, dpopJkt);
  if (!params.ok) return params.refusal;
  const authorizationClient = authorizationClientOf(client, ctx.profile);
  const target = responseTargetOf(params.value, authorizationClient);
  if (!target.ok) return target.refusal;
  if (target.refusal) return target.refusal;
  const request = authorizationRequestOf(params.value, authorizationClient, target.value);
  if (!request.ok) return request.refusal;

  const expiresIn = Math.min(ctx.lifetimes.pushedRequestSeconds, MAX_PUSHED_REQUEST_SECONDS);
  const requestUri = REQUEST_URI_PREFIX + randomBytes(32).toString('base64url');
  await ctx.store.savePushedRequest(requestUri, {
    clientId: client.clientId,
    parameters: params.value,
    expiresAt: ctx.now() + expiresIn,
  });
  return { request_uri: requestUri, expires_in: expiresIn };
}
