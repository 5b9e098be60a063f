/**
 * The introspection verifier for one configuration's `tokens` section, wired to the gateway's metrics and
 * log; undefined when `tokens.introspection` is absent. Files are read and checked here, at start or
 * reload, so a broken key or certificate is a start-up error naming its key.
 */
import type { Counter } from 'prom-client';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { trustedCas } from '../jwks-cache.js';
import {
  INTROSPECTION_CACHE_RESULTS,
  INTROSPECTION_OUTCOMES,
  type GatewayMetrics,
  type IntrospectionCacheResult,
  type IntrospectionOutcome,
} from '../metrics.js';
import { IntrospectionClient } from './client.js';
import { clientAuthentication } from './client-auth.js';
import { IntrospectionVerifier } from './verifier.js';

export function buildIntrospectionVerifier(
  tokens: GatewayConfig['tokens'],
  deps: { logger: Logger; metrics: GatewayMetrics; jwksCaPem: string | undefined },
): IntrospectionVerifier | undefined {
  const config = tokens.introspection;
  if (config === undefined) return undefined;
  const auth = clientAuthentication(config, tokens.issuer);
  if (auth.method === 'client_secret_basic') {
    deps.logger.warn(
      { event: 'introspection_client_secret_basic', key: 'tokens.introspection.auth.method' },
      'the gateway authenticates to the introspection endpoint with client_secret_basic, which is not a FAPI client authentication method: prefer tls_client_auth or private_key_jwt',
    );
  }
  // Children bound once: a request does no label lookups.
  const calls = new Map<IntrospectionOutcome, Counter.Internal>(
    INTROSPECTION_OUTCOMES.map((o) => [o, deps.metrics.introspectionCalls.labels(o)]),
  );
  const cache = new Map<IntrospectionCacheResult, Counter.Internal>(
    INTROSPECTION_CACHE_RESULTS.map((r) => [r, deps.metrics.introspectionCache.labels(r)]),
  );
  const duration = deps.metrics.introspectionDuration;
  return new IntrospectionVerifier({
    client: new IntrospectionClient({
      endpoint: config.endpoint,
      auth,
      ca: trustedCas(deps.jwksCaPem),
      timeoutMs: config.timeoutMs,
    }),
    policy: {
      issuer: tokens.issuer,
      audience: typeof tokens.audience === 'string' ? [tokens.audience] : tokens.audience,
      clockSkewSeconds: tokens.clockSkewSeconds,
    },
    cacheMaxSeconds: config.cacheMaxSeconds,
    negativeCacheSeconds: config.negativeCacheSeconds,
    cacheMaxEntries: tokens.cacheMaxEntries,
    logger: deps.logger,
    onCall: (outcome, seconds) => {
      calls.get(outcome)!.inc();
      duration.observe(seconds);
    },
    onCache: (result) => cache.get(result)!.inc(),
  });
}
