/**
 * The issuer's page layout and the security headers every page carries. Pages are self-contained: no
 * external assets, one inline stylesheet allowed by a per-response nonce, and no script at all except the
 * form_post auto-submit (also nonce-bound). `frame-ancestors 'none'` (and X-Frame-Options for old
 * browsers) stops clickjacking of the login and consent buttons.
 */
import { randomBytes } from 'node:crypto';
import { html, SafeHtml } from './html.js';

export interface PageResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  status?: number;
  /**
   * Origins (besides 'self') a form on this page may submit or be redirected to. CSP `form-action`
   * also applies to the redirects that follow a form submission (CSP Level 3 §6.4.1), so a consent form
   * whose answer redirects to the client's redirect_uri must list that origin.
   */
  formTargets?: readonly string[];
  /**
   * A constant script to run (only the form_post auto-submit uses one), bound to the response's nonce.
   * Never built from request input.
   */
  script?: string;
  /** Extra response headers (e.g. Set-Cookie). */
  headers?: Record<string, string | string[]>;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f6f7f9;--card:#fff;--accent:#0b57d0;--muted:#57606a;--err:#b3261e}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#121417;--card:#1d2025;--accent:#8ab4f8;--muted:#a0a7b0;--err:#f2b8b5}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}
.card{background:var(--card);border-radius:12px;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin:0 0 1rem}
p{margin:.5rem 0}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=text],input[type=password]{width:100%;font-size:1rem;padding:.75rem;border:1px solid var(--muted);border-radius:8px;background:transparent;color:inherit}
input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.actions{display:flex;gap:.75rem;margin-top:1.5rem;flex-wrap:wrap}
button{flex:1 1 8rem;min-height:48px;font-size:1rem;font-weight:600;border-radius:8px;border:1px solid var(--accent);cursor:pointer;padding:.5rem 1rem}
button.primary{background:var(--accent);color:#fff}
@media (prefers-color-scheme:dark){button.primary{color:#0b1a33}}
button.secondary{background:transparent;color:var(--accent)}
ul.scopes{padding-left:1.25rem}
ul.scopes li{margin:.25rem 0}
.error{color:var(--err);font-weight:600}
.muted{color:var(--muted);font-size:.9rem}
code{overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:1.25rem 0 .5rem}
pre{overflow:auto;font-size:.8rem;background:rgba(127,127,127,.12);padding:.75rem;border-radius:8px}
`;

function nonce(): string {
  return randomBytes(18).toString('base64url');
}

/** The Content-Security-Policy of one response: nothing but the nonce-bound style (and script) runs. */
export function contentSecurityPolicy(opts: {
  styleNonce: string;
  scriptNonce?: string;
  formTargets?: readonly string[];
}): string {
  return [
    "default-src 'none'",
    `style-src 'nonce-${opts.styleNonce}'`,
    opts.scriptNonce ? `script-src 'nonce-${opts.scriptNonce}'` : "script-src 'none'",
    // The only image is the empty data: favicon that keeps browsers from requesting /favicon.ico.
    'img-src data:',
    `form-action 'self'${(opts.formTargets ?? []).map((o) => ` ${o}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Security headers shared by every issuer page (and by JSON answers of the same endpoints). */
export const PAGE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  // Not no-referrer: with it browsers send `Origin: null` on our own form posts (Fetch §3.1,
  // "serializing a request origin"), defeating the Origin check. same-origin leaks nothing cross-site.
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** Renders a complete page with its security headers. */
export function renderPage(opts: PageOptions): PageResponse {
  const styleNonce = nonce();
  const scriptNonce = opts.script !== undefined ? nonce() : undefined;
  const body = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <link rel="icon" href="data:," />
        <title>${opts.title}</title>
        <style nonce="${styleNonce}">
          ${new SafeHtml(STYLE)}
        </style>
      </head>
      <body>
        <main>
          <div class="card">${opts.body}</div>
        </main>
        ${
          scriptNonce !== undefined
            ? html`<script nonce="${scriptNonce}">
                ${new SafeHtml(opts.script ?? '')};
              </script>`
            : ''
        }
      </body>
    </html> `;
  return {
    status: opts.status ?? 200,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': contentSecurityPolicy({
        styleNonce,
        ...(scriptNonce !== undefined ? { scriptNonce } : {}),
        ...(opts.formTargets ? { formTargets: opts.formTargets } : {}),
      }),
      ...PAGE_SECURITY_HEADERS,
      ...opts.headers,
    },
    body: body.value,
  };
}
