/** Scope check: the token must carry every scope the route requires (RFC 6750 §3.1 insufficient_scope). */
import { reject } from '../rejections.js';
import type { Check } from '../request-context.js';

export const scopeCheck: Check = {
  name: 'scope',
  requires: ['route', 'token'],
  provides: ['scope'],
  reportable: true,
  run(ctx) {
    const route = ctx.route!;
    const granted = ctx.verified!.scopes;
    for (const s of route.scopes) {
      if (!granted.has(s)) {
        return reject('insufficient_scope', 'the access token lacks a scope this route requires', {
          scope: route.scopeChallenge,
        });
      }
    }
    return undefined;
  },
};
