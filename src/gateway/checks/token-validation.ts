/** Token validation check: the presented token must verify (JWT locally, or by the opaque-token verifier). */
import type { Check } from '../request-context.js';
import type { TokenVerifiers } from '../tokens/verifiers.js';
import { isReject } from '../tokens/verifier.js';

export function tokenValidationCheck(verifiers: TokenVerifiers): Check {
  return {
    name: 'token',
    requires: ['credentials'],
    provides: ['token'],
    reportable: true,
    run(ctx) {
      const result = verifiers.verify(ctx.credentials!.token, ctx.connection.tokenMemo);
      if (result instanceof Promise) {
        return result.then((r) => {
          if (isReject(r)) return r;
          ctx.verified = r;
          return undefined;
        });
      }
      if (isReject(result)) return result;
      ctx.verified = result;
      return undefined;
    },
  };
}
