/**
 * The consent page (FAPI 1 Advanced §5.2.2 "explicit consent for requested scopes"): names the client
 * and lists each requested scope; "Approve" and "Deny" are two submit buttons of one CSRF-protected form.
 */
import { html } from './html.js';
import { renderPage, type PageResponse } from './layout.js';
import { hiddenInputs } from './login-form.js';

export interface ConsentPageOptions {
  action: string;
  csrfToken: string;
  hidden: Record<string, string>;
  clientName: string;
  /** The signed-in user, shown so a shared device does not consent for someone else. */
  username: string;
  scopes: readonly { scope: string; description?: string }[];
  formTargets?: readonly string[];
  headers?: Record<string, string | string[]>;
}

export function renderConsentPage(opts: ConsentPageOptions): PageResponse {
  return renderPage({
    title: `Allow ${opts.clientName}?`,
    body: html`<h1>Allow ${opts.clientName}?</h1>
      <p><strong>${opts.clientName}</strong> asks for access to your data with these permissions:</p>
      <ul class="scopes" aria-label="Requested permissions">
        ${opts.scopes.map(
          (s) =>
            html`<li><code>${s.scope}</code>${s.description ? html` &mdash; ${s.description}` : ''}</li>`,
        )}
      </ul>
      <p class="muted">Signed in as ${opts.username}.</p>
      <form method="post" action="${opts.action}">
        <input type="hidden" name="csrf_token" value="${opts.csrfToken}" />
        ${hiddenInputs(opts.hidden)}
        <div class="actions">
          <button class="primary" type="submit" name="decision" value="approve">Approve</button>
          <button class="secondary" type="submit" name="decision" value="deny">Deny</button>
        </div>
      </form>`,
    ...(opts.formTargets ? { formTargets: opts.formTargets } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
}
