/**
 * The CIBA HTTP edges: the backchannel authentication endpoint (CIBA Core §7, client-authenticated like
 * the token endpoint and also served on the mTLS alias) and the authentication-device page at
 * `ciba.devicePath` (sign in, list the user's pending requests, Approve/Deny, sign out). They only
 * translate between HTTP and the CIBA service; the rules live in the modules the service composes.
 */
import { formRecord } from '../authorize/endpoints.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { jsonReply, type IssuerRequest, type Reply } from '../http.js';
import {
  browserSessionOf,
  clearedSessionCookie,
  csrfTokenValid,
  sameOriginFormPost,
  sessionCookie,
  signInBrowserSession,
  stateBrowserSessions,
  type BrowserSession,
  type PageResponse,
} from '../pages/index.js';
import { redirectResponse } from '../pages/respond.js';
import type { IssuerRuntime } from '../runtime.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { answerAsPage, countRefusal, refusalPage } from '../steps/render-error.js';
import type { IssuerRefusalReason } from '../refusals.js';
import { OAuthError } from '../errors.js';
import { retryMessage, signInLimiterOf, sourceAddress } from '../users/sign-in-limits.js';
import { readForm } from '../steps/form-body.js';
import { endUsersOf } from '../users/authenticator.js';
import { cibaOf } from './context.js';
import { renderDeviceRequests, renderDeviceSignIn, type DeviceNotice } from './device-page.js';
import { SIGNING_ALGORITHMS } from '../config.js';

export const backchannelAuthenticationEndpoint: Endpoint = {
  name: 'backchannel_authentication',
  path: '/backchannel-authentication',
  methods: ['POST'],
  metadataName: 'backchannel_authentication_endpoint',
  mtlsAlias: true,
  discovery: () => ({
    backchannel_token_delivery_modes_supported: ['poll', 'ping', 'push'],
    backchannel_authentication_request_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
    backchannel_user_code_parameter_supported: true,
  }),
  async respond(request, runtime) {
    const params = await readForm(request);
    const client = await authenticateClient(request, params, runtime);
    const result = await cibaOf(runtime).startAuthentication(
      { config: client.client, keys: runtime.clientKeys.get(client.client.clientId)?.resolver },
      formRecord(params),
      request.certificate?.thumbprint,
    );
    if (!result.ok) throw result.error;
    return jsonReply({ ...result.value });
  },
};

/** The device page's sign-in shares the browser sessions (and their lifetime) of the authorization flow. */
function deviceSessions(runtime: IssuerRuntime) {
  return stateBrowserSessions(
    runtime.storage.state,
    () => runtime.clock.nowMs(),
    runtime.config.sessions.ttlSeconds,
  );
}

function cookieOf(request: IssuerRequest): string | undefined {
  const c = request.headers.cookie;
  return typeof c === 'string' ? c : undefined;
}

const devicePaths = (devicePath: string) => ({
  page: devicePath,
  decision: `${devicePath}/decision`,
  signOut: `${devicePath}/sign-out`,
});

const NOTICES: readonly DeviceNotice[] = ['approved', 'denied', 'expired', 'unavailable'];

async function devicePage(
  runtime: IssuerRuntime,
  session: BrowserSession,
  notice: string | null,
  headers: Record<string, string | string[]> = {},
): Promise<PageResponse> {
  const paths = devicePaths(runtime.config.ciba.devicePath);
  const auth = session.authentication;
  if (!auth) return renderDeviceSignIn({ action: paths.page, csrfToken: session.csrfToken, headers });
  const user = await endUsersOf(runtime).findBySubject(auth.sub);
  return renderDeviceRequests({
    decisionAction: paths.decision,
    signOutAction: paths.signOut,
    refreshHref: paths.page,
    csrfToken: session.csrfToken,
    username: user?.username ?? auth.sub,
    requests: await cibaOf(runtime).pendingFor(auth.sub),
    ...(NOTICES.includes(notice as DeviceNotice) && { notice: notice as DeviceNotice }),
    headers,
  });
}

function asPage(runtime: IssuerRuntime, run: () => Promise<PageResponse>): Promise<Reply> {
  return answerAsPage(runtime, 'ciba_device', run, 'The request could not be completed. Try again.');
}

/** Checks shared by every device-page form post: same origin, a known session, its CSRF token. */
async function checkedPost(
  request: IssuerRequest,
  runtime: IssuerRuntime,
): Promise<
  { ok: true; session: BrowserSession; form: Record<string, string> } | { ok: false; page: PageResponse }
> {
  const stale = (reason: IssuerRefusalReason, description: string) => ({
    ok: false as const,
    page: refusalPage(runtime, 'ciba_device', reason, description, 'Please start again'),
  });
  if (!sameOriginFormPost(request.headers, new URL(runtime.urls.issuer).origin))
    return stale('form_cross_origin', 'This form was not submitted from the device page.');
  const form = formRecord(await readForm(request, { limitBytes: 16 * 1024 }));
  // Before sign-in nothing is stored: the cookie's id and the form's token derived from it are the session.
  const { session, fromCookie } = await browserSessionOf(deviceSessions(runtime), cookieOf(request));
  if (!fromCookie)
    return stale(
      'form_session_missing',
      'Your session has expired or cookies are disabled. Open the device page again.',
    );
  if (!csrfTokenValid(session, form['csrf_token']))
    return stale('form_csrf_invalid', 'This form has expired. Open the device page again.');
  return { ok: true, session, form };
}

export const devicePageEndpoint: Endpoint = {
  name: 'ciba_device',
  path: '/device',
  configuredPath: (config) => config.ciba.devicePath,
  methods: ['GET', 'POST'],
  respond(request, runtime) {
    return asPage(runtime, async () => {
      const sessions = deviceSessions(runtime);
      if (request.method === 'GET') {
        // An anonymous visit stores nothing (a session is stored at sign-in): opening the page in a loop
        // cannot fill the store.
        const { session, isNew } = await browserSessionOf(sessions, cookieOf(request));
        return devicePage(
          runtime,
          session,
          request.query.get('result'),
          isNew ? { 'Set-Cookie': sessionCookie(session.id, runtime.config.sessions.ttlSeconds) } : {},
        );
      }
      // POST: the sign-in form.
      const checked = await checkedPost(request, runtime);
      if (!checked.ok) return checked.page;
      const username = checked.form['username'] ?? '';
      const password = checked.form['password'] ?? '';
      const signIn = (errorMessage: string, status: number, headers: Record<string, string> = {}) =>
        renderDeviceSignIn({
          action: runtime.config.ciba.devicePath,
          csrfToken: checked.session.csrfToken,
          username,
          errorMessage,
          status,
          headers,
        });
      if (username === '' || password === '') {
        countRefusal(
          runtime.metrics,
          'ciba_device',
          new OAuthError('form_incomplete', 'no username or password'),
        );
        return signIn('Enter your username and password.', 400);
      }
      // The same guess limits as the authorization flow's login (one user, one count); while a limit
      // waits the password is not checked.
      const limiter = signInLimiterOf(runtime);
      const guess = await limiter.admit(
        'password',
        username,
        sourceAddress(request.raw.socket.remoteAddress),
      );
      if (!guess.admitted) {
        runtime.log.info({ endpoint: 'ciba_device', limit: guess.limit }, 'device sign-in limited');
        countRefusal(
          runtime.metrics,
          'ciba_device',
          new OAuthError('sign_in_limited', 'too many failed sign-in attempts'),
        );
        return signIn(retryMessage(guess.retryAfterSeconds), 429, {
          'Retry-After': String(guess.retryAfterSeconds),
        });
      }
      const user = await endUsersOf(runtime).authenticate(username, password);
      if (!user) {
        runtime.log.info({ endpoint: 'ciba_device' }, 'device sign-in failed');
        countRefusal(
          runtime.metrics,
          'ciba_device',
          new OAuthError('sign_in_failed', 'the username or password is not correct'),
        );
        return signIn('The username or password is not correct.', 401);
      }
      await limiter.succeeded(guess);
      const session = await signInBrowserSession(sessions, checked.session, {
        sub: user.sub,
        authTime: runtime.clock.nowSeconds(),
        ...(user.acr !== undefined ? { acr: user.acr } : {}),
        amr: ['pwd'],
      });
      return redirectResponse(runtime.config.ciba.devicePath, {
        'Set-Cookie': sessionCookie(session.id, runtime.config.sessions.ttlSeconds),
      });
    });
  },
};

export const deviceDecisionEndpoint: Endpoint = {
  name: 'ciba_device_decision',
  path: '/device/decision',
  configuredPath: (config) => devicePaths(config.ciba.devicePath).decision,
  methods: ['POST'],
  respond(request, runtime) {
    return asPage(runtime, async () => {
      const checked = await checkedPost(request, runtime);
      if (!checked.ok) return checked.page;
      const auth = checked.session.authentication;
      if (!auth) return redirectResponse(runtime.config.ciba.devicePath);
      const decision = checked.form['decision'];
      const handle = checked.form['request'];
      if ((decision !== 'approve' && decision !== 'deny') || handle === undefined)
        return refusalPage(runtime, 'ciba_device', 'form_incomplete', 'Choose Approve or Deny.');
      const notice = await cibaOf(runtime).decide(auth.sub, handle, decision, auth.authTime);
      return redirectResponse(`${runtime.config.ciba.devicePath}?result=${notice}`);
    });
  },
};

export const deviceSignOutEndpoint: Endpoint = {
  name: 'ciba_device_sign_out',
  path: '/device/sign-out',
  configuredPath: (config) => devicePaths(config.ciba.devicePath).signOut,
  methods: ['POST'],
  respond(request, runtime) {
    return asPage(runtime, async () => {
      const checked = await checkedPost(request, runtime);
      if (!checked.ok) return checked.page;
      await deviceSessions(runtime).delete(checked.session.id);
      return redirectResponse(runtime.config.ciba.devicePath, { 'Set-Cookie': clearedSessionCookie() });
    });
  },
};

export const cibaEndpoints: readonly Endpoint[] = [
  backchannelAuthenticationEndpoint,
  devicePageEndpoint,
  deviceDecisionEndpoint,
  deviceSignOutEndpoint,
];
