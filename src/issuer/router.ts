/**
 * Finds the endpoint for a request by exact path, and answers 404 / 405 (with `Allow`, RFC 9110 §15.5.6)
 * the same way as every other refusal. Paths are exact: `/token/` is not `/token`.
 */
import { OAuthError } from './errors.js';
import type { Endpoint } from './endpoints/endpoint.js';

export interface Router {
  route(method: string, path: string): Endpoint;
}

export function createRouter(endpoints: readonly Endpoint[]): Router {
  const byPath = new Map<string, Endpoint>();
  for (const e of endpoints) {
    if (byPath.has(e.path)) throw new Error(`two endpoints serve ${e.path}`);
    byPath.set(e.path, e);
  }
  return {
    route(method, path) {
      const endpoint = byPath.get(path);
      if (!endpoint) throw new OAuthError('not_found', 'no such endpoint');
      if (!endpoint.methods.includes(method))
        throw new OAuthError('method_not_allowed', `use ${endpoint.methods.join(' or ')}`, {
          headers: { Allow: endpoint.methods.join(', ') },
        });
      return endpoint;
    },
  };
}
