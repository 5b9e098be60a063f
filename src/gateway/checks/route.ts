/** Route check: 404 for unknown paths, 405 for known paths with another method, 400 for unsafe paths. */
import { reject } from '../rejections.js';
import type { Check } from '../request-context.js';
import { matchRoute, normalisePath, type CompiledRoute } from '../routes.js';

export function routeCheck(routes: readonly CompiledRoute[]): Check {
  return {
    name: 'route',
    requires: [],
    provides: ['route'],
    // An unknown route or unsafe path has no upstream meaning to report on: always refused.
    reportable: false,
    run(ctx) {
      const url = ctx.req.url ?? '';
      const q = url.indexOf('?');
      const rawPath = q === -1 ? url : url.slice(0, q);
      ctx.query = q === -1 ? '' : url.slice(q);
      const normal = normalisePath(rawPath);
      if (!normal.ok) return reject('invalid_path', normal.why);
      ctx.path = normal.path;
      const match = matchRoute(routes, normal.path, ctx.req.method ?? '');
      if (match.kind === 'not_found') return reject('route_not_found', 'no route for this path');
      ctx.route = match.route;
      if (match.kind === 'method_not_allowed') {
        return reject('method_not_allowed', 'method not allowed on this route', { allow: match.allow });
      }
      return undefined;
    },
  };
}
