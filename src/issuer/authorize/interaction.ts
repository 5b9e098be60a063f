/**
 * Driving one authorization request through the end-user's browser: sign-in (unless the session is
 * already signed in and neither `prompt=login` nor `max_age` asks again), the essential-acr rule,
 * consent (remembered per user, client and scope set), then the code. The login and consent forms post
 * back here with the interaction id and the session's CSRF token; the interaction only continues in the
 * browser session that started it.
 */
import {
  browserSessionOf,
  csrfTokenValid,
  renderConsentPage,
  renderLoginPage,
  sameOriginFormPost,
  sessionCookie,
  signInBrowserSession,
  type BrowserSession,
  type PageResponse,
} from '../pages/index.js';
import type { IssuerRefusalReason } from '../refusals.js';
import { refusalPage } from '../steps/render-error.js';
import { authorizationRefusal } from './authorization-error.js';
import type { AuthorizationContext } from './authorization-context.js';
import { codeToClient, errorToClient } from './authorization-outcome.js';
import type { Interaction } from './authorization-store.js';
import { acrForIdToken } from './claims-request.js';
import { retryMessage } from '../users/sign-in-limits.js';
import { OAuthError } from '../errors.js';
import { countRefusal } from '../steps/render-error.js';

type Endpoint = 'authorize' | 'login' | 'consent';

function withHeaders(page: PageResponse, headers: Record<string, string | string[]>): PageResponse {
  return { ...page, headers: { ...page.headers, ...headers } };
}

/** Form targets of the interaction's pages: CSP form-action must allow the redirect to the client. */
function formTargets(interaction: Interaction): string[] {
  return [new URL(interaction.target.redirectUri).origin];
}

async function clientName(ctx: AuthorizationContext, clientId: string): Promise<string> {
  return (await ctx.findClient(clientId))?.clientName ?? clientId;
}

export async function loginPage(
  ctx: AuthorizationContext,
  interaction: Interaction,
  session: BrowserSession,
  opts: { errorMessage?: string; username?: string } = {},
): Promise<PageResponse> {
  return renderLoginPage({
    action: ctx.paths.login,
    csrfToken: session.csrfToken,
    hidden: { interaction: interaction.id },
    intro: `${await clientName(ctx, interaction.request.clientId)} asks you to sign in.`,
    formTargets: formTargets(interaction),
    ...(opts.errorMessage !== undefined ? { errorMessage: opts.errorMessage } : {}),
    ...(opts.username !== undefined ? { username: opts.username } : {}),
  });
}

/**
 * The next step for an interaction in `session`. `justSignedIn` is set right after the login form
 * succeeded, so `prompt=login` and `max_age` do not ask again.
 */
export async function continueInteraction(
  ctx: AuthorizationContext,
  interaction: Interaction,
  session: BrowserSession,
  endpoint: Endpoint,
  justSignedIn = false,
): Promise<PageResponse> {
  const { request, target } = interaction;
  const auth = session.authentication;
  const now = ctx.now();
  // OIDC Core §3.1.2.1 max_age; at whole-second resolution `>=` makes max_age=0 always re-authenticate.
  const tooOld = auth !== undefined && request.maxAge !== undefined && now - auth.authTime >= request.maxAge;
  const needsLogin = !auth || (!justSignedIn && (request.prompt.includes('login') || tooOld));
  if (needsLogin) {
    if (request.prompt.includes('none')) {
      await ctx.store.deleteInteraction(interaction.id);
      return errorToClient(
        ctx,
        target,
        authorizationRefusal('login_required', 'the end-user is not signed in'),
        endpoint,
      );
    }
    return loginPage(ctx, interaction, session);
  }
  const acr = acrForIdToken(request.acr, auth.acr);
  if (!acr.ok) {
    await ctx.store.deleteInteraction(interaction.id);
    return errorToClient(ctx, target, acr.refusal, endpoint);
  }
  const remembered = await ctx.store.hasConsent(auth.sub, request.clientId, request.scopes);
  if (!remembered || request.prompt.includes('consent')) {
    if (request.prompt.includes('none')) {
      await ctx.store.deleteInteraction(interaction.id);
      return errorToClient(
        ctx,
        target,
        authorizationRefusal('consent_required', 'the end-user has not consented'),
        endpoint,
      );
    }
    const user = await ctx.users.findBySubject(auth.sub);
    return renderConsentPage({
      action: ctx.paths.consent,
      csrfToken: session.csrfToken,
      hidden: { interaction: interaction.id },
      clientName: await clientName(ctx, request.clientId),
      username: user?.username ?? auth.sub,
      scopes: request.scopes.map((scope) => ({
        scope,
        ...(ctx.scopeDescriptions[scope] !== undefined ? { description: ctx.scopeDescriptions[scope] } : {}),
      })),
      formTargets: formTargets(interaction),
    });
  }
  // Only the request that ends the interaction issues its code (concurrent posts of one form).
  if (!(await ctx.store.takeInteraction(interaction.id))) return alreadyCompletedPage(ctx, endpoint);
  return codeToClient(ctx, request, target, auth, acr.value, endpoint);
}

interface FormPost {
  form: Record<string, string>;
  cookie: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** Where the guess comes from (users/sign-in-limits.ts sourceAddress). */
  source: string;
}

/** A form that cannot go on: the page says to start again, and the refusal is counted. */
function stalePage(
  ctx: AuthorizationContext,
  endpoint: Endpoint,
  reason: IssuerRefusalReason,
  description: string,
): PageResponse {
  return refusalPage(ctx.runtime, endpoint, reason, description);
}

function alreadyCompletedPage(ctx: AuthorizationContext, endpoint: Endpoint): PageResponse {
  return stalePage(
    ctx,
    endpoint,
    'interaction_unavailable',
    'This sign-in request has expired or was already completed. Return to the application and start again.',
  );
}

/** The checks every interaction form post passes: same origin, known session, its CSRF token, its interaction. */
async function interactionOfPost(
  ctx: AuthorizationContext,
  endpoint: Endpoint,
  post: FormPost,
): Promise<
  | { ok: true; session: BrowserSession; interaction: Interaction; version: number }
  | { ok: false; page: PageResponse }
> {
  if (!sameOriginFormPost(post.headers, new URL(ctx.issuer).origin))
    return {
      ok: false,
      page: stalePage(
        ctx,
        endpoint,
        'form_cross_origin',
        'This form was not submitted from the sign-in page.',
      ),
    };
  const { session, isNew } = await browserSessionOf(ctx.sessions, post.cookie);
  if (isNew)
    return {
      ok: false,
      page: stalePage(
        ctx,
        endpoint,
        'form_session_missing',
        'Your session has expired or cookies are disabled. Return to the application and start again.',
      ),
    };
  if (!csrfTokenValid(session, post.form['csrf_token']))
    return {
      ok: false,
      page: stalePage(
        ctx,
        endpoint,
        'form_csrf_invalid',
        'This form has expired. Return to the application and start again.',
      ),
    };
  const id = post.form['interaction'];
  const stored = id !== undefined ? await ctx.store.getInteraction(id) : undefined;
  const interaction = stored?.interaction;
  if (!interaction || interaction.sessionId !== session.id || interaction.expiresAt < ctx.now())
    return { ok: false, page: alreadyCompletedPage(ctx, endpoint) };
  return { ok: true, session, interaction, version: stored.version };
}

export async function submitLogin(ctx: AuthorizationContext, post: FormPost): Promise<PageResponse> {
  const checked = await interactionOfPost(ctx, 'login', post);
  if (!checked.ok) return checked.page;
  const { interaction } = checked;
  const username = post.form['username'] ?? '';
  const password = post.form['password'] ?? '';
  const failed = (errorMessage: string, status: number, headers: Record<string, string> = {}) =>
    loginPage(ctx, interaction, checked.session, { errorMessage, username }).then((page) =>
      withHeaders({ ...page, status }, headers),
    );
  if (username === '' || password === '') return failed('Enter your username and password.', 200);
  // Counted before the password is checked, per user and source rather than per request (a new PAR
  // starts no new count); while a limit waits the password is not checked at all.
  const guess = await ctx.signInLimits.admit('password', username, post.source);
  if (!guess.admitted) {
    ctx.outcome('login', interaction.request.clientId, 'login_limited');
    countRefusal(
      ctx.runtime.metrics,
      'login',
      new OAuthError('sign_in_limited', 'too many failed sign-in attempts'),
    );
    return failed(retryMessage(guess.retryAfterSeconds), 429, {
      'Retry-After': String(guess.retryAfterSeconds),
    });
  }
  const user = await ctx.users.authenticate(username, password);
  if (!user) {
    ctx.outcome('login', interaction.request.clientId, 'login_failed');
    return failed('The username or password is not correct.', 200);
  }
  await ctx.signInLimits.succeeded(guess);
  const session = await signInBrowserSession(ctx.sessions, checked.session, {
    sub: user.sub,
    authTime: ctx.now(),
    ...(user.acr !== undefined ? { acr: user.acr } : {}),
    amr: ['pwd'],
  });
  const moved: Interaction = { ...interaction, sessionId: session.id };
  if (!(await ctx.store.replaceInteraction(moved, checked.version)))
    return alreadyCompletedPage(ctx, 'login');
  const page = await continueInteraction(ctx, moved, session, 'login', true);
  return withHeaders(page, { 'Set-Cookie': sessionCookie(session.id, ctx.lifetimes.sessionSeconds) });
}

export async function submitConsent(ctx: AuthorizationContext, post: FormPost): Promise<PageResponse> {
  const checked = await interactionOfPost(ctx, 'consent', post);
  if (!checked.ok) return checked.page;
  const { session, interaction } = checked;
  const auth = session.authentication;
  if (!auth)
    return stalePage(
      ctx,
      'consent',
      'form_incomplete',
      'You are not signed in. Return to the application and start again.',
    );
  const decision = post.form['decision'];
  if (decision !== 'approve' && decision !== 'deny')
    return stalePage(ctx, 'consent', 'form_incomplete', 'Choose Approve or Deny.');
  // One decision per interaction: of concurrent posts exactly one takes it (and may issue a code).
  if (!(await ctx.store.takeInteraction(interaction.id))) return alreadyCompletedPage(ctx, 'consent');
  if (decision === 'deny')
    return errorToClient(
      ctx,
      interaction.target,
      authorizationRefusal('access_denied', 'the end-user denied the request'),
      'consent',
    );
  const acr = acrForIdToken(interaction.request.acr, auth.acr);
  if (!acr.ok) return errorToClient(ctx, interaction.target, acr.refusal, 'consent');
  await ctx.store.rememberConsent(auth.sub, interaction.request.clientId, interaction.request.scopes);
  return codeToClient(ctx, interaction.request, interaction.target, auth, acr.value, 'consent');
}
