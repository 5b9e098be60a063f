// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import {
  html,
  renderLoginPage,
  renderConsentPage,
  renderErrorPage,
  renderFormPostPage,
  sessionIdFromCookieHeader,
  sessionCookie,
  newBrowserSession,
  csrfTokenValid,
  sameOriginFormPost,
  browserSessionOf,
  signInBrowserSession,
  SESSION_COOKIE,
  stateBrowserSessions,
} from '../../../src/issuer/pages/index.js';
import { createMemoryStorage } from '../../../src/issuer/storage/memory-store.js';

t.test('html escapes interpolated text but keeps nested fragments', (t) => {
  const evil = `"><script>alert(1)</script>`;
  t.equal(
    html`<p title="${evil}">${evil}</p>`.value,
    '<p title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>',
  );
  t.equal(html`<div>${html`<b>${'x&y'}</b>`}</div>`.value, '<div><b>x&amp;y</b></div>');
  t.end();
});

t.test('login page: labels, button, CSRF field, strict CSP without script', (t) => {
  const page = renderLoginPage({
    action: '/authorize/login',
    csrfToken: 'csrf-123',
    hidden: { interaction: 'abc"<' },
    username: '<alice>',
    errorMessage: 'Wrong username or password.',
  });
  t.equal(page.status, 200);
  t.match(page.body, /<label for="username">Username<\/label>/);
  t.match(page.body, /<label for="password">Password<\/label>/);
  t.match(page.body, /<button class="primary" type="submit">Sign in<\/button>/);
  t.match(page.body, /name="csrf_token" value="csrf-123"/);
  t.match(page.body, /value="abc&quot;&lt;"/);
  t.match(page.body, /value="&lt;alice&gt;"/);
  t.match(page.body, /name="viewport" content="width=device-width, initial-scale=1"/);
  t.notMatch(page.body, /<script/);
  t.notMatch(page.body, /https?:\/\//, 'no external assets');
  const csp = page.headers['Content-Security-Policy'] as string;
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'none'/);
  t.match(csp, /frame-ancestors 'none'/);
  t.match(csp, /form-action 'self'/);
  t.match(csp, /base-uri 'none'/);
  const nonce = /style-src 'nonce-([A-Za-z0-9_-]+)'/.exec(csp)?.[1];
  t.ok(nonce);
  t.match(page.body, new RegExp(`<style nonce="${nonce}">`));
  t.equal(page.headers['X-Frame-Options'], 'DENY');
  t.equal(page.headers['Cache-Control'], 'no-store');
  const second = renderLoginPage({ action: '/a', csrfToken: 'x' });
  t.not(second.headers['Content-Security-Policy'], csp, 'a fresh nonce per response');
  t.end();
});

t.test('consent page names the client and each scope, Approve and Deny buttons', (t) => {
  const page = renderConsentPage({
    action: '/authorize/consent',
    csrfToken: 'c',
    hidden: { interaction: 'i' },
    clientName: 'Acme <Budgeting>',
    username: 'alice',
    scopes: [{ scope: 'openid', description: 'Sign you in' }, { scope: 'accounts' }],
    formTargets: ['https://client.example'],
  });
  t.match(page.body, /Acme &lt;Budgeting&gt;/);
  t.match(page.body, /<code>openid<\/code>/);
  t.match(page.body, /<code>accounts<\/code>/);
  t.match(page.body, /value="approve">Approve<\/button>/);
  t.match(page.body, /value="deny">Deny<\/button>/);
  t.match(page.headers['Content-Security-Policy'], /form-action 'self' https:\/\/client\.example;/);
  t.end();
});

t.test('error page and form_post page', (t) => {
  const err = renderErrorPage({ status: 400, error: 'invalid_request', description: 'redirect_uri <x>' });
  t.equal(err.status, 400);
  t.match(err.body, /redirect_uri &lt;x&gt;/);
  const post = renderFormPostPage('https://rp.example:8443/cb?x=1', { response: 'a.b.c' });
  const csp = post.headers['Content-Security-Policy'] as string;
  t.match(csp, /form-action 'self' https:\/\/rp\.example:8443;/);
  const scriptNonce = /script-src 'nonce-([A-Za-z0-9_-]+)'/.exec(csp)?.[1];
  t.ok(scriptNonce);
  t.match(post.body, new RegExp(`<script nonce="${scriptNonce}">`));
  t.match(post.body, /name="response" value="a\.b\.c"/);
  t.end();
});

t.test('session cookie: __Host- prefix, HttpOnly, Secure, SameSite; parsing rejects junk', (t) => {
  const s = newBrowserSession();
  const cookie = sessionCookie(s.id, 60);
  t.match(
    cookie,
    new RegExp(`^${SESSION_COOKIE}=${s.id}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60$`),
  );
  t.equal(sessionIdFromCookieHeader(`a=b; ${SESSION_COOKIE}=${s.id}; c=d`), s.id);
  t.equal(sessionIdFromCookieHeader(`${SESSION_COOKIE}=short`), undefined);
  t.equal(sessionIdFromCookieHeader(undefined), undefined);
  t.equal(sessionIdFromCookieHeader('garbage'), undefined);
  t.end();
});

t.test('CSRF token is bound to the session; sign-in rotates id and token', async (t) => {
  const storage = createMemoryStorage({ clients: [] });
  t.teardown(() => storage.close());
  const store = stateBrowserSessions(storage.state, Date.now);
  const { session, isNew } = await browserSessionOf(store, undefined);
  t.ok(isNew);
  await store.save(session);
  const again = await browserSessionOf(store, `${SESSION_COOKIE}=${session.id}`);
  t.equal(again.isNew, false);
  t.ok(csrfTokenValid(session, session.csrfToken));
  t.notOk(csrfTokenValid(session, newBrowserSession().csrfToken));
  t.notOk(csrfTokenValid(session, ''));
  t.notOk(csrfTokenValid(session, undefined));
  const signedIn = await signInBrowserSession(store, session, { sub: 'alice', authTime: 1 });
  t.not(signedIn.id, session.id);
  t.not(signedIn.csrfToken, session.csrfToken);
  t.equal(await store.get(session.id), undefined, 'the pre-login session is gone');
  t.notOk(csrfTokenValid(signedIn, session.csrfToken));
});

t.test('form posts from another origin are refused', (t) => {
  const o = 'https://issuer.example';
  t.ok(sameOriginFormPost({ origin: o, 'sec-fetch-site': 'same-origin' }, o));
  t.ok(sameOriginFormPost({}, o));
  t.notOk(sameOriginFormPost({ origin: 'https://evil.example' }, o));
  t.notOk(sameOriginFormPost({ origin: 'null' }, o));
  t.notOk(sameOriginFormPost({ 'sec-fetch-site': 'cross-site' }, o));
  t.end();
});
