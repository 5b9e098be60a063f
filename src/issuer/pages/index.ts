/**
 * Server-rendered issuer pages (authorization login and consent, CIBA device page): the layout and its
 * Content-Security-Policy, the browser session cookie and CSRF token, the login form, consent, error and
 * form_post pages. Pages return plain values (`PageResponse`); the issuer's server writes them.
 */
export { html, escapeHtml, SafeHtml } from './html.js';
export { renderPage, contentSecurityPolicy, PAGE_SECURITY_HEADERS, type PageResponse } from './layout.js';
export {
  SESSION_COOKIE,
  DEFAULT_SESSION_TTL_SECONDS,
  stateBrowserSessions,
  browserSessionOf,
  signInBrowserSession,
  newBrowserSession,
  sessionCookie,
  clearedSessionCookie,
  sessionIdFromCookieHeader,
  csrfTokenValid,
  sameOriginFormPost,
  secretsEqual,
  type BrowserSession,
  type BrowserSessionStore,
  type EndUserAuthentication,
} from './browser-session.js';
export { loginForm, renderLoginPage, hiddenInputs, type LoginFormOptions } from './login-form.js';
export { renderConsentPage } from './consent-page.js';
export { renderErrorPage } from './error-page.js';
export { renderFormPostPage } from './form-post-page.js';
export { redirectResponse } from './respond.js';
