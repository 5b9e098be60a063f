/**
 * The authentication-device page (CIBA Core §8: the OP authenticates the user on the authentication device
 * and obtains consent). Plain render functions over plain values, on the shared page layout (no external
 * assets, nonce CSP without script, CSRF token on every form, phone-sized). The binding message is the
 * request's heading: the user must compare it with the one on the consumption device before approving.
 */
import { createHash } from 'node:crypto';
import { html, renderLoginPage, renderPage, type PageResponse } from '../pages/index.js';

export interface DeviceRequestView {
  /** Opaque handle of the request on this page (never the auth_req_id itself). */
  handle: string;
  clientName: string;
  scopes: readonly string[];
  bindingMessage?: string;
  expiresInSeconds: number;
}

export type DeviceNotice = 'approved' | 'denied' | 'expired' | 'unavailable';

const NOTICES: Record<DeviceNotice, string> = {
  approved: 'Approved. You can return to where you started.',
  denied: 'Denied. The request will not go ahead.',
  expired: 'That request has expired.',
  unavailable: 'That request is no longer waiting for you.',
};

/**
 * The device page identifies a request by a hash of its auth_req_id, so the value the client redeems at
 * the token endpoint never appears in HTML, history or screenshots.
 */
export function deviceHandle(authReqId: string): string {
  return createHash('sha256').update(authReqId, 'utf8').digest('base64url').slice(0, 32);
}

export function renderDeviceSignIn(opts: {
  action: string;
  csrfToken: string;
  username?: string;
  errorMessage?: string;
  headers?: Record<string, string | string[]>;
  status?: number;
}): PageResponse {
  return renderLoginPage({
    title: 'Sign in to confirm requests',
    intro: 'Sign in to see the requests waiting for your confirmation.',
    action: opts.action,
    csrfToken: opts.csrfToken,
    ...(opts.username !== undefined && { username: opts.username }),
    ...(opts.errorMessage !== undefined && { errorMessage: opts.errorMessage }),
    ...(opts.headers !== undefined && { headers: opts.headers }),
    ...(opts.status !== undefined && { status: opts.status }),
  });
}

function minutesAndSeconds(s: number): string {
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

export function renderDeviceRequests(opts: {
  decisionAction: string;
  signOutAction: string;
  refreshHref: string;
  csrfToken: string;
  username: string;
  requests: readonly DeviceRequestView[];
  notice?: DeviceNotice;
  headers?: Record<string, string | string[]>;
}): PageResponse {
  const count = opts.requests.length;
  return renderPage({
    title: count > 0 ? `Confirm requests (${count})` : 'No pending requests',
    body: html`<h1>${count > 0 ? 'Confirm requests' : 'No pending requests'}</h1>
      ${opts.notice ? html`<p role="status">${NOTICES[opts.notice]}</p>` : ''}
      <p class="muted">Signed in as ${opts.username}.</p>
      ${count === 0 ? html`<p>Nothing is waiting for your confirmation.</p>` : ''}
      ${opts.requests.map(
        (r, i) =>
          html`<section aria-labelledby="request-${i}-client">
            <h2 id="request-${i}-client">${r.clientName}</h2>
            ${
              r.bindingMessage !== undefined
                ? html`<p>Only approve if this code matches the one shown where you started:</p>
                    <h3 class="binding" aria-label="Binding message">${r.bindingMessage}</h3>`
                : ''
            }
            <p>asks to access:</p>
            <ul class="scopes" aria-label="Requested permissions">
              ${r.scopes.map((s) => html`<li><code>${s}</code></li>`)}
            </ul>
            <p class="muted">Expires in ${minutesAndSeconds(r.expiresInSeconds)}.</p>
            <form method="post" action="${opts.decisionAction}">
              <input type="hidden" name="csrf_token" value="${opts.csrfToken}" />
              <input type="hidden" name="request" value="${r.handle}" />
              <div class="actions">
                <button class="primary" type="submit" name="decision" value="approve">Approve</button>
                <button class="secondary" type="submit" name="decision" value="deny">Deny</button>
              </div>
            </form>
          </section>`,
      )}
      <p><a href="${opts.refreshHref}">Check for new requests</a></p>
      <form method="post" action="${opts.signOutAction}">
        <input type="hidden" name="csrf_token" value="${opts.csrfToken}" />
        <div class="actions"><button class="secondary" type="submit">Sign out</button></div>
      </form>`,
    ...(opts.headers !== undefined && { headers: opts.headers }),
  });
}
