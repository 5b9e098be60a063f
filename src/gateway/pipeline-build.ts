/**
 * Everything the gateway derives from one configuration: the checks, the token verifiers, the forwarder
 * and the DPoP state. Built at start and again on every reload; a reload reuses each part whose inputs
 * (configuration block and, for CA bundles, file contents) did not change, so a JWKS cache stays warm
 * and upstream connections stay pooled across a reload that only touched routes.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config.js';
import type { DpopReplayStore } from '../dpop/index.js';
import { GatewayDpop } from './dpop.js';
import { Forwarder } from './forwarder.js';
import { buildIntrospectionVerifier } from './introspection/build.js';
import type { GatewayMetrics } from './metrics.js';
import { buildChecks, type CheckList } from './pipeline.js';
import type { RouteConcurrency } from './route-concurrency.js';
import type { Check } from './request-context.js';
import { buildTokenVerifiers, type TokenVerifiers } from './tokens/verifiers.js';

/** One configuration's request pipeline; swapped as a whole on reload. */
export interface GatewayPipeline {
  config: GatewayConfig;
  checks: CheckList;
  forwarder: Forwarder;
  verifiers: TokenVerifiers;
  dpop: GatewayDpop;
  /** Contents of tokens.jwksCa and upstream.ca when built: a reload compares contents, not paths. */
  jwksCaPem: string | undefined;
  upstreamCaPem: string | undefined;
}

export interface PipelineDependencies {
  logger: Logger;
  metrics: GatewayMetrics;
  /** Unix seconds for DPoP proof times and nonce windows. */
  clock?: () => number;
  /** The shared DPoP replay store (`dpop.replayStore.type: redis`), opened once per process. */
  replayStore?: DpopReplayStore;
  /** Client certificates from trusted proxies' Client-Cert headers (trusted-proxies.ts), when configured. */
  proxiedClientCertificate?: Check;
  /** Every route's in-flight count, kept for the gateway's lifetime (reloads change only the limits). */
  concurrency: RouteConcurrency;
}

function readOptionalFile(key: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: err,
    });
  }
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Builds the pipeline for `config`, reusing the parts of `previous` whose inputs are unchanged. Throws
 * (having swapped nothing) when a file cannot be read or a part cannot be built.
 */
export function buildPipeline(
  config: GatewayConfig,
  deps: PipelineDependencies,
  previous?: GatewayPipeline,
): GatewayPipeline {
  const { logger, metrics } = deps;
  const jwksCaPem = readOptionalFile('tokens.jwksCa', config.tokens.jwksCa);
  const upstreamCaPem = readOptionalFile('upstream.ca', config.upstream.ca);
  const keepTokens =
    previous !== undefined &&
    sameJson(previous.config.tokens, config.tokens) &&
    previous.jwksCaPem === jwksCaPem;
  const verifiers = keepTokens
    ? previous.verifiers
    : buildTokenVerifiers(config.tokens, {
        logger,
        jwksCaPem,
        onJwksFetch: (result) => metrics.jwksFetches.labels(result).inc(),
        onCacheHit: () => metrics.tokenCacheHits.inc(),
        opaque: buildIntrospectionVerifier(config.tokens, { logger, metrics, jwksCaPem }),
      });
  const keepUpstream =
    previous !== undefined &&
    sameJson(previous.config.upstream, config.upstream) &&
    previous.upstreamCaPem === upstreamCaPem &&
    sameJson(previous.config.forwardHeaders, config.forwardHeaders);
  const forwarder = keepUpstream
    ? previous.forwarder
    : new Forwarder({
        url: config.upstream.url,
        timeoutMs: config.upstream.timeoutMs,
        maxSockets: config.upstream.maxSockets,
        caPem: upstreamCaPem,
        forwardHeaders: config.forwardHeaders,
      });
  const keepDpop = previous !== undefined && sameJson(previous.config.dpop, config.dpop);
  const dpop = keepDpop
    ? previous.dpop
    : new GatewayDpop(config.dpop, {
        now: deps.clock,
        ...(deps.replayStore && { replayStore: deps.replayStore }),
      });
  for (const r of config.routes) metrics.instrumentsFor(r.path);
  return {
    config,
    checks: buildChecks(config, verifiers, {
      dpopBinding: dpop.bindingCheck,
      proxiedClientCertificate: deps.proxiedClientCertificate,
      concurrency: deps.concurrency,
    }),
    forwarder,
    verifiers,
    dpop,
    jwksCaPem,
    upstreamCaPem,
  };
}

/**
 * Frees what `replaced` held and `current` no longer uses. The old forwarder closes only after the
 * requests already given to it can have finished (drain time plus upstream timeout).
 */
export function retireReplaced(replaced: GatewayPipeline, current: GatewayPipeline): void {
  if (replaced.verifiers !== current.verifiers) replaced.verifiers.stop();
  if (replaced.forwarder !== current.forwarder) {
    const old = replaced.forwarder;
    setTimeout(
      () => old.close(),
      current.config.shutdown.drainTimeoutMs + current.config.upstream.timeoutMs,
    ).unref();
  }
}

/** Frees everything the pipeline holds (at close). */
export function stopPipeline(p: GatewayPipeline): void {
  p.verifiers.stop();
  p.forwarder.close();
}
