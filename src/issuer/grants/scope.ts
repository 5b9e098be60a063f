/** Scope parsing and checks shared by grants (RFC 6749 §3.3). */
import { OAuthError } from '../errors.js';

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(' ').filter((s) => s !== '');
  if (parts.length === 0 || !parts.every((s) => SCOPE_TOKEN.test(s)))
    throw new OAuthError('scope_malformed', 'scope must be space-separated scope tokens (RFC 6749 §3.3)');
  return [...new Set(parts)];
}

/** Every requested scope must be registered for the client. */
export function requireAllowedScopes(requested: readonly string[], allowed: readonly string[]): void {
  const refused = requested.filter((s) => !allowed.includes(s));
  if (refused.length > 0)
    throw new OAuthError(
      'scope_not_allowed',
      `scope not allowed for this client: ${refused.slice(0, 5).join(' ').slice(0, 200)}`,
    );
}
