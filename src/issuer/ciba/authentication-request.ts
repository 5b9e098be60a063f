/**
 * The rules of a backchannel authentication request (CIBA Core 1.0 §7.1, §7.1.1, §7.2 and the FAPI-CIBA
 * profile §5.2.2) as plain functions over plain values. Signature verification of the request object and
 * user lookup happen at the edge (`request-object.ts`, the endpoint); everything decidable from values
 * alone is decided here.
 */
import { authenticationError as refuse, fail, ok, type Result } from './errors.js';
import type { AuthenticationErrorCode, CibaError } from './errors.js';
import { estimateTokenBits } from './identifiers.js';

export type CibaProfile = 'fapi-ciba' | 'ciba-core';
export type DeliveryMode = 'poll' | 'ping' | 'push';

/** What the endpoint needs to know about the authenticated client. */
export interface CibaClientPolicy {
  clientId: string;
  cibaProfile: CibaProfile;
  deliveryMode: DeliveryMode;
  /** Registered `backchannel_authentication_request_signing_alg` (CIBA Core §4). */
  requestSigningAlg?: string;
  userCodeParameter: boolean;
  /** Scopes the client may request; `openid` is listed like any other scope (as for the code flow). */
  scopes: readonly string[];
}

export interface CibaLimits {
  issuer: string;
  /** Default expiry and the ceiling for `requested_expiry`. */
  expiresInSeconds: number;
  clockSkewSeconds: number;
}

/** FAPI-CIBA §5.2.2-5: a signed request lives at most 60 minutes (exp - nbf). */
export const MAX_REQUEST_OBJECT_LIFETIME_SECONDS = 3600;
/** The binding message is shown on a phone screen next to the Approve button; keep it readable. */
export const MAX_BINDING_MESSAGE_LENGTH = 64;
/** CIBA Core §7.1: client_notification_token is a bearer token of at most 1024 characters. */
export const MAX_NOTIFICATION_TOKEN_LENGTH = 1024;
export const MIN_NOTIFICATION_TOKEN_BITS = 128;

export type Hint =
  | { kind: 'login_hint'; value: string }
  | { kind: 'id_token_hint'; value: string }
  | { kind: 'login_hint_token'; value: string };

/** A validated authentication request, before the user is resolved from its hint. */
export interface AuthenticationRequest {
  scopes: string[];
  hint: Hint;
  bindingMessage?: string;
  userCode?: string;
  acrValues?: string[];
  clientNotificationToken?: string;
  /** Seconds until the request expires: `requested_expiry` capped by the configured ceiling. */
  expiresIn: number;
}

/** Parameters that authenticate the client and may therefore stand outside a signed request (§7.1.1). */
export const CLIENT_AUTHENTICATION_PARAMETERS: ReadonlySet<string> = new Set([
  'client_id',
  'client_assertion',
  'client_assertion_type',
]);

/** The authentication request parameters of CIBA Core §7.1. */
export const AUTHENTICATION_REQUEST_PARAMETERS = [
  'scope',
  'client_notification_token',
  'acr_values',
  'login_hint_token',
  'id_token_hint',
  'login_hint',
  'binding_message',
  'user_code',
  'requested_expiry',
] as const;

type Err = CibaError<AuthenticationErrorCode>;

export function requiresSignedRequest(client: CibaClientPolicy): boolean {
  // FAPI-CIBA §5.2.2-2; CIBA Core §4: a registered signing alg means the client signs its requests.
  return client.cibaProfile === 'fapi-ciba' || client.requestSigningAlg !== undefined;
}

/**
 * Decides where the request parameters come from: the `request` JWT, or the form itself.
 * CIBA Core §7.1.1: with a signed request, the parameters must not also appear outside it.
 */
export function selectRequestSource(
  form: Readonly<Record<string, string>>,
  client: CibaClientPolicy,
): Result<{ kind: 'signed'; jwt: string } | { kind: 'plain'; params: Record<string, string> }, Err> {
  if (form.request_uri !== undefined)
    return fail(
      refuse('invalid_request', 'request_uri is not supported; send the signed request as `request`'),
    );
  const outside = Object.keys(form).filter(
    (k) => k !== 'request' && !CLIENT_AUTHENTICATION_PARAMETERS.has(k),
  );
  if (form.request !== undefined) {
    if (outside.length > 0)
      return fail(
        refuse(
          'invalid_request',
          `with a signed request, parameters must be inside the request object only (found outside: ${outside.join(', ')})`,
        ),
      );
    return ok({ kind: 'signed', jwt: form.request });
  }
  if (requiresSignedRequest(client))
    return fail(
      refuse(
        'invalid_request',
        'this client must send a signed authentication request (`request` parameter, CIBA Core §7.1.1)',
      ),
    );
  const params: Record<string, string> = {};
  for (const k of outside) params[k] = form[k]!;
  return ok({ kind: 'plain', params });
}

const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The claims rules of a signed authentication request (CIBA Core §7.1.1, FAPI-CIBA §5.2.2-5), checked after
 * the signature. Returns the authentication parameters carried by the request object.
 */
export function checkRequestObjectClaims(
  claims: Readonly<Record<string, unknown>>,
  client: CibaClientPolicy,
  limits: CibaLimits,
  now: number,
): Result<Record<string, unknown>, Err> {
  const bad = (d: string) => fail(refuse('invalid_request', `request object: ${d}`));
  const aud = claims.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(limits.issuer)) return bad(`aud must be the issuer identifier ${limits.issuer}`);
  if (claims.iss !== client.clientId) return bad('iss must be the client_id of the authenticated client');
  for (const c of ['exp', 'iat', 'nbf'] as const)
    if (!isNumericDate(claims[c])) return bad(`${c} is required (a NumericDate)`);
  if (typeof claims.jti !== 'string' || claims.jti.length === 0) return bad('jti is required');
  const { exp, iat, nbf } = claims as { exp: number; iat: number; nbf: number };
  const skew = limits.clockSkewSeconds;
  if (exp <= now - skew) return bad('it has expired (exp)');
  if (nbf > now + skew) return bad('it is not yet valid (nbf)');
  if (iat > now + skew) return bad('iat is in the future');
  if (exp - nbf > MAX_REQUEST_OBJECT_LIFETIME_SECONDS)
    return bad('exp - nbf exceeds 60 minutes (FAPI-CIBA §5.2.2)');
  if (exp <= nbf) return bad('exp must be after nbf');
  const params: Record<string, unknown> = {};
  for (const p of AUTHENTICATION_REQUEST_PARAMETERS) if (claims[p] !== undefined) params[p] = claims[p];
  return ok(params);
}

/** Parses and checks the authentication parameters (CIBA Core §7.1, §7.2; FAPI-CIBA §5.2.2). */
export function parseAuthenticationParameters(
  params: Readonly<Record<string, unknown>>,
  client: CibaClientPolicy,
  limits: CibaLimits,
): Result<AuthenticationRequest, Err> {
  const invalid = (d: string) => fail(refuse('invalid_request', d));
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === 'requested_expiry' || v === undefined) continue;
    if (typeof v !== 'string') return invalid(`${k} must be a string`);
    strings[k] = v;
  }

  const scope = strings.scope;
  if (scope === undefined || scope.trim() === '') return invalid('scope is required');
  const scopes = [...new Set(scope.split(' ').filter((s) => s !== ''))];
  if (!scopes.includes('openid'))
    return invalid('scope must include openid (CIBA is an OpenID Connect flow)');
  const unknown = scopes.filter((s) => !client.scopes.includes(s));
  if (unknown.length > 0)
    return fail(refuse('invalid_scope', `scope not allowed for this client: ${unknown.join(' ')}`));

  const hints = (['login_hint', 'id_token_hint', 'login_hint_token'] as const).filter(
    (h) => strings[h] !== undefined,
  );
  if (hints.length !== 1)
    return invalid(
      hints.length === 0
        ? 'exactly one of login_hint, id_token_hint or login_hint_token is required'
        : `exactly one hint is allowed (got ${hints.join(', ')})`,
    );
  const hintKind = hints[0]!;
  const hintValue = strings[hintKind]!;
  if (hintValue === '') return invalid(`${hintKind} is empty`);

  const bindingMessage = strings.binding_message;
  if (bindingMessage !== undefined) {
    const problem = bindingMessageProblem(bindingMessage);
    if (problem) return fail(refuse('invalid_binding_message', problem));
  } else if (client.cibaProfile === 'fapi-ciba') {
    // FAPI-CIBA §5.2.2-7 (we have no other unique authorization context): the user must see what they bind.
    return fail(refuse('invalid_binding_message', 'binding_message is required under the FAPI-CIBA profile'));
  }

  let userCode: string | undefined;
  if (strings.user_code !== undefined) {
    if (!client.userCodeParameter)
      return invalid('user_code is not enabled for this client (backchannel_user_code_parameter)');
    userCode = strings.user_code;
  }

  let token: string | undefined;
  if (client.deliveryMode === 'ping' || client.deliveryMode === 'push') {
    token = strings.client_notification_token;
    if (token === undefined)
      return invalid(`client_notification_token is required in ${client.deliveryMode} mode`);
    const problem = notificationTokenProblem(token);
    if (problem) return invalid(problem);
  }

  let expiresIn = limits.expiresInSeconds;
  const requested = params.requested_expiry;
  if (requested !== undefined) {
    const n =
      typeof requested === 'number'
        ? requested
        : typeof requested === 'string' && /^[0-9]{1,9}$/.test(requested)
          ? Number(requested)
          : NaN;
    if (!Number.isInteger(n) || n <= 0) return invalid('requested_expiry must be a positive integer');
    expiresIn = Math.min(n, limits.expiresInSeconds);
  }

  const acr = strings.acr_values?.split(' ').filter((s) => s !== '');
  return ok({
    scopes,
    hint: { kind: hintKind, value: hintValue },
    ...(bindingMessage !== undefined && { bindingMessage }),
    ...(userCode !== undefined && { userCode }),
    ...(acr !== undefined && acr.length > 0 && { acrValues: acr }),
    ...(token !== undefined && { clientNotificationToken: token }),
    expiresIn,
  });
}

// Control (Cc), format (Cf: bidi overrides and marks, zero-width characters, tags), surrogate and private-use
// code points, and line/paragraph separators (Zl, Zp): each can make the device show a different or
// invisible text than the client sent, which is what the binding message is there to prevent.
const UNSAFE_TEXT = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u;
/** More combining marks on one letter than any language needs: "Zalgo" text that overflows the screen. */
const STACKED_MARKS = /\p{M}{3,}/u;

export function bindingMessageProblem(message: string): string | undefined {
  if (message.trim() === '') return 'binding_message is empty';
  if ([...message].length > MAX_BINDING_MESSAGE_LENGTH)
    return `binding_message is longer than ${MAX_BINDING_MESSAGE_LENGTH} characters`;
  if (UNSAFE_TEXT.test(message)) return 'binding_message contains control, direction or invisible characters';
  if (STACKED_MARKS.test(message))
    return 'binding_message stacks more than two combining marks on a character';
  return undefined;
}

export function notificationTokenProblem(token: string): string | undefined {
  if (token.length > MAX_NOTIFICATION_TOKEN_LENGTH)
    return `client_notification_token is longer than ${MAX_NOTIFICATION_TOKEN_LENGTH} characters`;
  // Sent back as `Authorization: Bearer <token>` (CIBA Core §10.2): RFC 6750 b64token syntax.
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token))
    return 'client_notification_token must use the bearer token characters of RFC 6750 §2.1';
  if (estimateTokenBits(token) < MIN_NOTIFICATION_TOKEN_BITS)
    return `client_notification_token must carry at least ${MIN_NOTIFICATION_TOKEN_BITS} bits of entropy (FAPI-CIBA §5.2.2)`;
  return undefined;
}
