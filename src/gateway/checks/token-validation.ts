/** Token validation check: the presented JWT must verify against the issuer's keys and policy. */
import { isReject, type AccessTokenVerifier } from '../access-token.js';
import type { Check } from '../request-context.js';

export function tokenValidationCheck(verifier: AccessTokenVerifier): Check {
  return (ctx) => {
    const result = verifier.verify(ctx.token!, ctx.connection.tokenMemo);
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
  };
}
