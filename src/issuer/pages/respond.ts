/** Writing a rendered page (or a redirect made with the same headers) to a Node response: the edge. */
import type { ServerResponse } from 'node:http';
import { PAGE_SECURITY_HEADERS, type PageResponse } from './layout.js';

export function writePage(res: ServerResponse, page: PageResponse): void {
  res.writeHead(page.status, { ...page.headers, 'Content-Length': Buffer.byteLength(page.body) });
  res.end(page.body);
}

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
