/**
 * The authorization request's parameters checked against the client's registration and the FAPI
 * profile, in two steps:
 *  1. `responseTargetOf`: the redirect_uri (required, compared exactly with a registered one: RFC 6749
 *     §3.1.2.3, FAPI "Redirect URI exact match") and the response mode. Until this succeeds no error may
 *     be redirected anywhere (RFC 6749 §4.1.2.1): failures here go to the error page.
 *  2. `authorizationRequestOf`: everything else. Its refusals go back to the client at the target.
 */
import type { ClientConfig } from '../config.js';
import {
  accept,
  authorizationRefusal,
  refuse,
  type AuthorizationRefusal,
  type Checked,
} from './authorization-error.js';
import {
  acrRequirement,
  parseClaimsRequest,
  type AcrRequirement,
  type ClaimsRequest,
} from './claims-request.js';
import { codeChallengeRefusal } from './pkce.js';

export type Profile = 'fapi2-security' | 'fapi1-advanced';
export type ResponseType = 'code' | 'code id_token';
/** Concrete response modes (`jwt` resolves to `query.jwt` or `fragment.jwt`, JARM §2.3.4). */
export type ResponseMode =
  'query' | 'fragment' | 'form_post' | 'query.jwt' | 'fragment.jwt' | 'form_post.jwt';

export type AuthorizationClient = Pick<
  ClientConfig,
  | 'clientId'
  | 'redirectUris'
  | 'scopes'
  | 'responseTypes'
  | 'responseModes'
  | 'grantTypes'
  | 'authorizationSignedResponseAlg'
> & { profile: Profile };

/** Where and how the authorization response (or error) goes. */
export interface ResponseTarget {
  clientId: string;
  redirectUri: string;
  responseMode: ResponseMode;
  /** Echoed in every response, errors included (RFC 6749 §4.1.2.1). */
  state?: string;
  jarmAlg: 'PS256' | 'ES256';
}

export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  responseType: ResponseType;
  responseMode: ResponseMode;
  scopes: string[];
  state?: string;
  nonce?: string;
  codeChallenge: string;
  claims?: ClaimsRequest;
  acr?: AcrRequirement;
  prompt: string[];
  maxAge?: number;
  loginHint?: string;
  /** RFC 9449 §10: the code is bound to this DPoP key (JWK SHA-256 thumbprint). */
  dpopJkt?: string;
}

const MAX_TEXT = 2048;
/** OIDC Core §3.1.2.1 prompt values; discovery lists the same (prompt_values_supported). */
export const PROMPT_VALUES = ['none', 'login', 'consent', 'select_account'] as const;
const PROMPTS = new Set<string>(PROMPT_VALUES);

export const ALL_RESPONSE_MODES: readonly ResponseMode[] = [
  'query',
  'fragment',
  'form_post',
  'query.jwt',
  'fragment.jwt',
  'form_post.jwt',
];

function text(params: Record<string, unknown>, name: string): string | undefined {
  const v = params[name];
  return typeof v === 'string' ? v : undefined;
}

/** A parameter present with the wrong JSON type (inside a request object) or too long. */
function malformed(
  params: Record<string, unknown>,
  names: readonly string[],
): AuthorizationRefusal | undefined {
  for (const name of names) {
    const v = params[name];
    if (v === undefined) continue;
    if (typeof v !== 'string') return authorizationRefusal('invalid_request', `${name} must be a string`);
    if (v.length > MAX_TEXT) return authorizationRefusal('invalid_request', `${name} is too long`);
  }
  return undefined;
}

function allowedModes(client: AuthorizationClient): readonly ResponseMode[] {
  const configured = client.responseModes;
  if (!configured) return ALL_RESPONSE_MODES;
  const out = new Set<ResponseMode>();
  for (const m of configured) {
    if (m === 'jwt') {
      out.add('query.jwt');
      out.add('fragment.jwt');
    } else out.add(m);
  }
  return [...out];
}

/** The mode errors use before the requested one is known to be valid: plain query if allowed, else JARM. */
function fallbackMode(client: AuthorizationClient): ResponseMode {
  return allowedModes(client).includes('query') ? 'query' : 'query.jwt';
}

/**
 * JARM §2.3.4 (`jwt` default), OAuth 2.0 Multiple Response Types §5 (hybrid responses never in the
 * query), JARM §2.3.1 (`query.jwt` not with id_token unless encrypted).
 */
function resolveResponseMode(requested: string | undefined, responseType: string | undefined): string {
  const hybrid = responseType === 'code id_token';
  if (requested === undefined) return hybrid ? 'fragment' : 'query';
  if (requested === 'jwt') return hybrid ? 'fragment.jwt' : 'query.jwt';
  return requested;
}

export type TargetResult =
  | { ok: true; value: ResponseTarget; refusal?: AuthorizationRefusal }
  | { ok: false; refusal: AuthorizationRefusal };

/**
 * Step 1. `ok: false` = show the error page. `ok: true` with a `refusal` = the redirect_uri is fine but
 * the response mode is not: send that error to the client with the fallback mode.
 */
export function responseTargetOf(params: Record<string, unknown>, client: AuthorizationClient): TargetResult {
  const redirectUri = params['redirect_uri'];
  if (redirectUri === undefined)
    return refuse('invalid_request', 'redirect_uri is required and must be one registered for the client');
  if (typeof redirectUri !== 'string' || !client.redirectUris.includes(redirectUri))
    return refuse('invalid_request', 'redirect_uri does not exactly match a URI registered for the client');
  const stateRaw = params['state'];
  const state = typeof stateRaw === 'string' && stateRaw.length <= MAX_TEXT ? stateRaw : undefined;
  const base = {
    clientId: client.clientId,
    redirectUri,
    jarmAlg: client.authorizationSignedResponseAlg,
    ...(state !== undefined ? { state } : {}),
  };
  const requestedMode = params['response_mode'];
  const responseType = text(params, 'response_type');
  const fallback = { ...base, responseMode: fallbackMode(client) };
  if (requestedMode !== undefined && typeof requestedMode !== 'string')
    return {
      ok: true,
      value: fallback,
      refusal: authorizationRefusal('invalid_request', 'response_mode must be a string'),
    };
  const mode = resolveResponseMode(requestedMode, responseType);
  if (!(ALL_RESPONSE_MODES as readonly string[]).includes(mode))
    return {
      ok: true,
      value: fallback,
      refusal: authorizationRefusal('invalid_request', `unsupported response_mode ${mode}`),
    };
  if (responseType === 'code id_token' && (mode === 'query' || mode === 'query.jwt')) {
    const fragment: ResponseMode =
      mode === 'query' && allowedModes(client).includes('fragment') ? 'fragment' : 'fragment.jwt';
    return {
      ok: true,
      value: { ...base, responseMode: fragment },
      refusal: authorizationRefusal(
        'invalid_request',
        `response_mode ${mode} cannot carry an ID token (use fragment or a JARM mode)`,
      ),
    };
  }
  if (!allowedModes(client).includes(mode as ResponseMode))
    return {
      ok: true,
      value: fallback,
      refusal: authorizationRefusal(
        'invalid_request',
        `response_mode ${mode} is not registered for the client`,
      ),
    };
  return accept({ ...base, responseMode: mode as ResponseMode });
}

function isJarm(mode: ResponseMode): boolean {
  return mode.endsWith('.jwt');
}

/** Step 2: every other parameter, for a request whose target is known. */
export function authorizationRequestOf(
  params: Record<string, unknown>,
  client: AuthorizationClient,
  target: ResponseTarget,
): Checked<AuthorizationRequest> {
  const bad = malformed(params, [
    'response_type',
    'scope',
    'state',
    'nonce',
    'code_challenge',
    'code_challenge_method',
    'acr_values',
    'prompt',
    'login_hint',
    'dpop_jkt',
  ]);
  if (bad) return { ok: false, refusal: bad };
  if (!client.grantTypes.includes('authorization_code'))
    return refuse('unauthorized_client', 'the client is not registered for the authorization_code grant');

  const responseType = text(params, 'response_type');
  if (responseType === undefined) return refuse('invalid_request', 'response_type is required');
  if (responseType !== 'code' && responseType !== 'code id_token')
    return refuse('unsupported_response_type', `response_type ${responseType} is not supported; use code`);
  if (client.profile === 'fapi2-security' && responseType !== 'code')
    return refuse(
      'unsupported_response_type',
      'the FAPI 2.0 Security Profile allows only response_type code',
    );
  // FAPI 1 Advanced §5.2.2-2: code id_token, or code together with a JARM response mode.
  if (client.profile === 'fapi1-advanced' && responseType === 'code' && !isJarm(target.responseMode))
    return refuse(
      'invalid_request',
      'FAPI 1 Advanced requires response_type code id_token, or code with response_mode jwt',
    );
  if (!(client.responseTypes as readonly string[]).includes(responseType))
    return refuse('unauthorized_client', `response_type ${responseType} is not registered for the client`);

  const scopeText = text(params, 'scope');
  if (scopeText === undefined || scopeText.trim() === '') return refuse('invalid_scope', 'scope is required');
  const scopes = [...new Set(scopeText.split(' ').filter((s) => s !== ''))];
  const unknown = scopes.filter((s) => !client.scopes.includes(s));
  if (unknown.length > 0)
    return refuse('invalid_scope', `scope not allowed for the client: ${unknown.join(' ')}`);
  const openid = scopes.includes('openid');
  if (responseType === 'code id_token' && !openid)
    return refuse('invalid_scope', 'response_type code id_token requires the openid scope');

  const pkce = codeChallengeRefusal(params['code_challenge'], params['code_challenge_method']);
  if (pkce) return { ok: false, refusal: pkce };

  const nonce = text(params, 'nonce');
  // OIDC Core §3.3.2.11 (hybrid) and FAPI 1 Advanced §5.2.2.2 (openid scope): nonce required.
  if (
    nonce === undefined &&
    (responseType === 'code id_token' || (client.profile === 'fapi1-advanced' && openid))
  )
    return refuse('invalid_request', 'nonce is required');
  const state = text(params, 'state');
  // FAPI 1 Advanced §5.2.2.3: without openid, state is the only CSRF protection.
  if (client.profile === 'fapi1-advanced' && !openid && state === undefined)
    return refuse('invalid_request', 'state is required when the openid scope is not requested');

  const claims = parseClaimsRequest(params['claims']);
  if (!claims.ok) return claims;
  const acrValuesText = text(params, 'acr_values');
  const acrValues = acrValuesText?.split(' ').filter((s) => s !== '');
  const acr = acrRequirement(claims.value, acrValues);
  if (acr && !openid) return refuse('invalid_request', 'acr can only be requested with the openid scope');

  const prompt = (text(params, 'prompt') ?? '').split(' ').filter((s) => s !== '');
  if (prompt.some((p) => !PROMPTS.has(p))) return refuse('invalid_request', 'unsupported prompt value');
  if (prompt.includes('none') && prompt.length > 1)
    return refuse('invalid_request', 'prompt none cannot be combined with other values');

  let maxAge: number | undefined;
  const maxAgeRaw = params['max_age'];
  if (maxAgeRaw !== undefined) {
    maxAge =
      typeof maxAgeRaw === 'number'
        ? maxAgeRaw
        : typeof maxAgeRaw === 'string' && /^\d{1,9}$/.test(maxAgeRaw)
          ? Number(maxAgeRaw)
          : NaN;
    if (!Number.isInteger(maxAge) || maxAge < 0)
      return refuse('invalid_request', 'max_age must be a non-negative integer');
  }
  const loginHint = text(params, 'login_hint');
  const dpopJkt = text(params, 'dpop_jkt');
  // RFC 9449 §10: base64url of a SHA-256 thumbprint (RFC 7638), i.e. 43 characters.
  if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt))
    return refuse('invalid_request', 'dpop_jkt must be a base64url JWK SHA-256 thumbprint');

  return accept({
    clientId: client.clientId,
    redirectUri: target.redirectUri,
    responseType,
    responseMode: target.responseMode,
    scopes,
    codeChallenge: params['code_challenge'] as string,
    prompt,
    ...(state !== undefined ? { state } : {}),
    ...(nonce !== undefined ? { nonce } : {}),
    ...(claims.value ? { claims: claims.value } : {}),
    ...(acr ? { acr } : {}),
    ...(maxAge !== undefined ? { maxAge } : {}),
    ...(loginHint !== undefined ? { loginHint } : {}),
    ...(dpopJkt !== undefined ? { dpopJkt } : {}),
  });
}
