/**
 * The request pipeline: the ordered checks (route, FAPI headers, form body, token presentation, token
 * validation, binding, scope), built once from configuration, and the runner that decides what a failure
 * means. Adding a rule is adding a module and one line in `buildChecks`.
 *
 * On an enforcing route the first failing check answers. On a report-only route a failing reportable
 * check is recorded in `ctx.wouldReject` and the run goes on; checks needing a fact the failed check
 * would have established are skipped. Only a run without any failure sets `ctx.identity`, the identity
 * the forwarder asserts upstream.
 */
import type { GatewayConfig } from './config.js';
import { bindingCheck, type DpopBindingCheck } from './checks/binding.js';
import { fapiHeadersCheck } from './checks/fapi-headers.js';
import { formBodyCheck } from './checks/form-body.js';
import { messageFramingCheck } from './checks/message-framing.js';
import { routeCheck } from './checks/route.js';
import { scopeCheck } from './checks/scope.js';
import { tokenPresentationCheck } from './checks/token-presentation.js';
import { tokenValidationCheck } from './checks/token-validation.js';
import type { Check, Fact, RequestContext } from './request-context.js';
import type { Reject } from './rejections.js';
import type { RouteConcurrency } from './route-concurrency.js';
import { compileRoutes } from './routes.js';
import type { TokenVerifiers } from './tokens/verifiers.js';

const FACT_BITS: Record<Fact, number> = {
  route: 1,
  headers: 2,
  body: 4,
  credentials: 8,
  token: 16,
  binding: 32,
  scope: 64,
};

function maskOf(facts: readonly Fact[]): number {
  let m = 0;
  for (const f of facts) m |= FACT_BITS[f];
  return m;
}

/** The checks in order, with their facts as bit masks (the runner compares integers, not sets). */
export class CheckList {
  readonly checks: readonly Check[];
  readonly requires: readonly number[];
  readonly provides: readonly number[];

  constructor(checks: readonly Check[]) {
    let provided = 0;
    for (const c of checks) {
      const missing = c.requires.filter((f) => (provided & FACT_BITS[f]) === 0);
      if (missing.length > 0) {
        throw new Error(`check ${c.name} requires ${missing.join(', ')}, which no earlier check provides`);
      }
      provided |= maskOf(c.provides);
    }
    this.checks = checks;
    this.requires = checks.map((c) => maskOf(c.requires));
    this.provides = checks.map((c) => maskOf(c.provides));
  }
}

export interface CheckExtensions {
  /** Verifies a DPoP-bound token's proof (RFC 9449 §7); without it such tokens are refused. */
  dpopBinding?: DpopBindingCheck;
  /** Takes the client certificate from a trusted proxy's Client-Cert header (RFC 9440). */
  proxiedClientCertificate?: Check;
  /** Where each route's in-flight count lives (kept across reloads); without it routes have no limit. */
  concurrency?: RouteConcurrency;
}

export function buildChecks(
  config: GatewayConfig,
  verifiers: TokenVerifiers,
  extensions: CheckExtensions = {},
): CheckList {
  return new CheckList([
    messageFramingCheck,
    routeCheck(compileRoutes(config.routes, extensions.concurrency?.slotsForRoutes(config))),
    ...(extensions.proxiedClientCertificate === undefined ? [] : [extensions.proxiedClientCertificate]),
    fapiHeadersCheck,
    formBodyCheck(config.limits),
    tokenPresentationCheck,
    tokenValidationCheck(verifiers),
    bindingCheck(extensions.dpopBinding),
    scopeCheck,
  ]);
}

/**
 * A failed check on a report-only route: recorded, and the facts it would have provided are missing
 * from then on. -1 when the failure refuses the call (enforcing route, or a check that is never relaxed).
 */
function reportedMissing(
  list: CheckList,
  i: number,
  ctx: RequestContext,
  r: Reject,
  missing: number,
): number {
  if (!list.checks[i]!.reportable || ctx.route?.mode !== 'report-only') return -1;
  (ctx.wouldReject ??= []).push(r);
  return missing | list.provides[i]!;
}

/**
 * Runs the checks in order, synchronously while they are synchronous (the cached-token hot path never
 * allocates a promise). Calls `onPass` or `onReject` exactly once; `onFailure` if a check throws.
 */
export function runChecks(
  list: CheckList,
  ctx: RequestContext,
  onPass: () => void,
  onReject: (r: Reject) => void,
  onFailure: (err: unknown) => void,
  from = 0,
  missingFacts = 0,
): void {
  const checks = list.checks;
  let missing = missingFacts;
  for (let i = from; i < checks.length; i++) {
    if ((missing & list.requires[i]!) !== 0) {
      // Skipped: what it would have established is missing too.
      missing |= list.provides[i]!;
      continue;
    }
    let result: ReturnType<Check['run']>;
    try {
      result = checks[i]!.run(ctx);
    } catch (err) {
      onFailure(err);
      return;
    }
    if (result === undefined) continue;
    if (result instanceof Promise) {
      result.then((r) => {
        if (r === undefined) {
          runChecks(list, ctx, onPass, onReject, onFailure, i + 1, missing);
          return;
        }
        const m = reportedMissing(list, i, ctx, r, missing);
        if (m < 0) onReject(r);
        else runChecks(list, ctx, onPass, onReject, onFailure, i + 1, m);
      }, onFailure);
      return;
    }
    missing = reportedMissing(list, i, ctx, result, missing);
    if (missing < 0) {
      onReject(result);
      return;
    }
  }
  if (ctx.wouldReject === undefined) ctx.identity = ctx.verified;
  onPass();
}
