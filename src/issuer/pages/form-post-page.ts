/**
 * OAuth 2.0 Form Post Response Mode: an HTML form that posts the response parameters to the client's
 * redirect_uri. It submits itself with a nonce-bound script; without script the user presses "Continue".
 * CSP `form-action` names exactly the redirect_uri's origin.
 */
import { html } from './html.js';
import { renderPage, type PageResponse } from './layout.js';
import { hiddenInputs } from './login-form.js';

export function renderFormPostPage(action: string, fields: Record<string, string>): PageResponse {
  return renderPage({
    title: 'Returning to the application',
    body: html`<h1>Returning to the application</h1>
      <form method="post" action="${action}" id="response">
        ${hiddenInputs(fields)}
        <div class="actions"><button class="primary" type="submit">Continue</button></div>
      </form>`,
    formTargets: [new URL(action).origin],
    script: "document.getElementById('response').submit();",
  });
}
