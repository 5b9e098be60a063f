/**
 * The one place an OAuthError becomes an HTTP answer (RFC 6749 §5.2): JSON `error` and
 * `error_description`, `Cache-Control: no-store`, and `WWW-Authenticate` when the client tried the
 * Authorization header.
 */
import type { OAuthError } from '../errors.js';
import { jsonReply, type Reply } from '../http.js';

export function renderOAuthError(err: OAuthError): Reply {
  const headers: Record<string, string> = { ...err.headers };
  if (err.wwwAuthenticate) headers['WWW-Authenticate'] = err.wwwAuthenticate;
  return jsonReply({ error: err.error, error_description: err.description }, err.status, headers);
}
