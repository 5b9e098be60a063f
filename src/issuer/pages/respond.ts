/** Redirects with the same security headers as the pages. */
import { PAGE_SECURITY_HEADERS, type PageResponse } from './layout.js';

/** A 303 See Other to `location` (after a POST the client must GET the target, RFC 9110 §15.4.4). */
export function redirectResponse(
  location: string,
  headers: Record<string, string | string[]> = {},
  status = 303,
): PageResponse {
  return {
    status,
    headers: {
      ...PAGE_SECURITY_HEADERS,
      Location: location,
      'Content-Type': 'text/plain; charset=utf-8',
      ...headers,
    },
    body: '',
  };
}
