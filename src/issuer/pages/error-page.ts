/**
 * The page shown when an authorization error cannot be sent back to the client (RFC 6749 §4.1.2.1:
 * missing, invalid or unregistered redirect_uri or client_id: never redirect to an unverified URI).
 */
import { html } from './html.js';
import { renderPage, type PageResponse } from './layout.js';

export interface ErrorPageOptions {
  status: number;
  error: string;
  description: string;
  title?: string;
  headers?: Record<string, string | string[]>;
}

export function renderErrorPage(opts: ErrorPageOptions): PageResponse {
  const title = opts.title ?? 'This request cannot be completed';
  return renderPage({
    title,
    status: opts.status,
    body: html`<h1>${title}</h1>
      <p role="alert">${opts.description}</p>
      <p class="muted">Error code: <code data-error="${opts.error}">${opts.error}</code></p>
      <p class="muted">You can close this window and return to the application.</p>`,
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
}
