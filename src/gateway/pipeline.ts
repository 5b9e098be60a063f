/**
 * The request pipeline: the ordered checks (route, FAPI headers, token presentation, token
 * validation, binding, scope), built once from configuration. Adding a rule is adding a module and one
 * line here. The first failing check answers.
 */
import type { GatewayConfig } from './config.js';
import type { AccessTokenVerifier } from './access-token.js';
import { bindingCheck } from './checks/binding.js';
import { fapiHeadersCheck } from './checks/fapi-headers.js';
import { routeCheck } from './checks/route.js';
import { scopeCheck } from './checks/scope.js';
import { tokenPresentationCheck } from './checks/token-presentation.js';
import { tokenValidationCheck } from './checks/token-validation.js';
import type { Check, RequestContext } from './request-context.js';
import type { Reject } from './rejections.js';
import { compileRoutes } from './routes.js';

export function buildChecks(config: GatewayConfig, verifier: AccessTokenVerifier): Check[] {
  return [
    routeCheck(compileRoutes(config.routes)),
    fapiHeadersCheck,
    tokenPresentationCheck(config.limits),
    tokenValidationCheck(verifier),
    bindingCheck,
    scopeCheck,
  ];
}

/**
 * Runs the checks in order, synchronously while they are synchronous (the cached-token hot path never
 * allocates a promise). Calls `onPass` or `onReject` exactly once; `onFailure` if a check throws.
 */
export function runChecks(
  checks: readonly Check[],
  ctx: RequestContext,
  onPass: () => void,
  onReject: (r: Reject) => void,
  onFailure: (err: unknown) => void,
  from = 0,
): void {
  for (let i = from; i < checks.length; i++) {
    let result: ReturnType<Check>;
    try {
      result = checks[i]!(ctx);
    } catch (err) {
      onFailure(err);
      return;
    }
    if (result === undefined) continue;
    if (result instanceof Promise) {
      result.then(
        (r) => (r === undefined ? runChecks(checks, ctx, onPass, onReject, onFailure, i + 1) : onReject(r)),
        onFailure,
      );
      return;
    }
    onReject(result);
    return;
  }
  onPass();
}
