/**
 * The one place a refusal (an OAuthError, refusals.ts) becomes an answer and is counted: RFC 6749 §5.2
 * JSON (`error`, `error_description`, `Cache-Control: no-store`, and `WWW-Authenticate` when the client
 * tried the Authorization header) for clients, or an HTML error page for browsers. Anything else thrown
 * is an `internal_error` refusal, logged by the caller with its stack.
 */
import { OAuthError } from '../errors.js';
import { jsonReply, type Reply } from '../http.js';
import type { IssuerMetrics } from '../metrics.js';
import { renderErrorPage, type PageResponse } from '../pages/index.js';
import type { IssuerRefusalReason } from '../refusals.js';
import type { IssuerRuntime } from '../runtime.js';

export function renderOAuthError(err: OAuthError): Reply {
  const headers: Record<string, string> = { ...err.headers };
  if (err.wwwAuthenticate) headers['WWW-Authenticate'] = err.wwwAuthenticate;
  return jsonReply({ error: err.error, error_description: err.description }, err.status, headers);
}

export function renderRefusalPage(err: OAuthError, title?: string): PageResponse {
  return renderErrorPage({
    status: err.status,
    error: err.error,
    description: err.description,
    ...(title !== undefined ? { title } : {}),
  });
}

/** A refusal answered as a page right away (not thrown), counted like every other refusal. */
export function refusalPage(
  runtime: IssuerRuntime,
  endpoint: string,
  reason: IssuerRefusalReason,
  description: string,
  title?: string,
): PageResponse {
  const refusal = new OAuthError(reason, description);
  countRefusal(runtime.metrics, endpoint, refusal);
  return renderRefusalPage(refusal, title);
}

/** The refusal an error stands for: itself, or `internal_error` with a description that reveals nothing. */
export function refusalOf(
  err: unknown,
  description = 'the issuer could not complete the request',
): OAuthError {
  return err instanceof OAuthError ? err : new OAuthError('internal_error', description);
}

/** `fapi_issuer_failures_total` by endpoint, error and reason; `fapi_issuer_refusals_total` by reason. */
export function countRefusal(metrics: IssuerMetrics, endpoint: string, err: OAuthError): void {
  metrics.failures.inc({ endpoint, error: err.error, reason: err.reason });
  metrics.refusals.inc({ reason: err.reason });
}

/** Runs a browser endpoint so that every failure is an HTML page, never JSON or a stack trace. */
export async function answerAsPage(
  runtime: IssuerRuntime,
  endpoint: string,
  run: () => Promise<PageResponse>,
  unexpected: string,
): Promise<Reply> {
  let page: PageResponse;
  try {
    page = await run();
  } catch (err) {
    if (!(err instanceof OAuthError)) runtime.log.error({ err, endpoint }, 'unexpected error');
    const refusal = refusalOf(err, unexpected);
    countRefusal(runtime.metrics, endpoint, refusal);
    page = renderRefusalPage(refusal);
  }
  return { status: page.status, headers: page.headers, body: page.body };
}
