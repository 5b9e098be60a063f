/**
 * The end-user login form, shared by the authorization endpoint and the CIBA device page. Inputs have
 * real <label>s ("Username", "Password"), autocomplete hints for password managers, and the CSRF token of
 * the browser session as a hidden field.
 */
import { html, type SafeHtml } from './html.js';
import { renderPage, type PageResponse } from './layout.js';

export interface LoginFormOptions {
  /** Where the form posts (a path on the issuer). */
  action: string;
  csrfToken: string;
  /** Hidden fields carried through (e.g. the interaction id). Never secrets other than the CSRF token. */
  hidden?: Record<string, string>;
  /** Pre-filled username after a failed attempt. */
  username?: string;
  /** Shown above the form after a failed attempt (generic: never says which of the two was wrong). */
  errorMessage?: string;
}

export function hiddenInputs(fields: Record<string, string>): SafeHtml {
  return html`${Object.entries(fields).map(
    ([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`,
  )}`;
}

export function loginForm(opts: LoginFormOptions): SafeHtml {
  return html`<form method="post" action="${opts.action}" novalidate>
    ${opts.errorMessage ? html`<p class="error" role="alert">${opts.errorMessage}</p>` : ''}
    <input type="hidden" name="csrf_token" value="${opts.csrfToken}" />
    ${hiddenInputs(opts.hidden ?? {})}
    <label for="username">Username</label>
    <input
      id="username"
      name="username"
      type="text"
      autocomplete="username"
      autocapitalize="none"
      spellcheck="false"
      required
      value="${opts.username ?? ''}"
    />
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required />
    <div class="actions">
      <button class="primary" type="submit">Sign in</button>
    </div>
  </form>`;
}

export interface LoginPageOptions extends LoginFormOptions {
  /** Page title and heading. */
  title?: string;
  /** A sentence above the form saying who asks (e.g. the client's name). */
  intro?: SafeHtml | string;
  status?: number;
  formTargets?: readonly string[];
  headers?: Record<string, string | string[]>;
}

export function renderLoginPage(opts: LoginPageOptions): PageResponse {
  const title = opts.title ?? 'Sign in';
  return renderPage({
    title,
    status: opts.status ?? 200,
    body: html`<h1>${title}</h1>
      ${opts.intro !== undefined ? html`<p>${opts.intro}</p>` : ''} ${loginForm(opts)}`,
    ...(opts.formTargets ? { formTargets: opts.formTargets } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
}
