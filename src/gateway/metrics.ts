/**
 * The gateway's Prometheus metrics (names and labels are a contract: dashboards and alerts depend on them; docs/metrics.md is generated from this registry).
 * One registry per gateway instance, so several gateways can run in one process (tests) and a cluster
 * primary can aggregate its workers' registries.
 */
import { bufferedBodyBytes } from './checks/form-body.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ALL_REJECTION_REASONS, type RejectionReason } from './rejections.js';

export type Outcome = 'forwarded' | 'rejected' | 'upstream_error';
export type UpstreamErrorKind = 'refused' | 'timeout' | 'reset' | 'invalid_response' | 'other';
import { HANDSHAKE_FAILURE_REASONS } from '../tls/handshake-failures.js';
export { HANDSHAKE_FAILURE_REASONS };
export type { HandshakeFailureReason } from '../tls/handshake-failures.js';

export const UPSTREAM_ERROR_KINDS: UpstreamErrorKind[] = [
  'refused',
  'timeout',
  'reset',
  'invalid_response',
  'other',
];
const OUTCOMES: Outcome[] = ['forwarded', 'rejected', 'upstream_error'];

/** Results of one call to the introspection endpoint: an answer, or why the endpoint failed (-> 503). */
export type IntrospectionOutcome =
  'active' | 'refused' | 'timeout' | 'connection_error' | 'http_error' | 'invalid_response';
export const INTROSPECTION_OUTCOMES: IntrospectionOutcome[] = [
  'active',
  'refused',
  'timeout',
  'connection_error',
  'http_error',
  'invalid_response',
];
/** hit: a cached answer; negative_hit: a cached refusal; miss: the endpoint is asked (or an ongoing call joined). */
export type IntrospectionCacheResult = 'hit' | 'negative_hit' | 'miss';
export const INTROSPECTION_CACHE_RESULTS: IntrospectionCacheResult[] = ['hit', 'negative_hit', 'miss'];

export const UNMATCHED_ROUTE = 'unmatched';

/** Refusals a report-only route still enforces (routing, unsafe input, size limits, gateway failures). */
const NEVER_REPORTED: ReadonlySet<RejectionReason> = new Set<RejectionReason>([
  'route_not_found',
  'method_not_allowed',
  'invalid_path',
  'malformed_request',
  'headers_too_large',
  'request_timeout',
  'body_too_large',
  'internal_error',
  // Protects the upstream pool, not the API's authorisation: applies to report-only routes too.
  'route_concurrency_limit',
  // A trusted proxy's Client-Cert is held to the handshake's rules, which are never relaxed either.
  'proxy_certificate_malformed',
  'proxy_certificate_untrusted',
  'proxy_certificate_expired',
  'proxy_certificate_not_allowed',
]);

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What a request increments: plain numbers, folded into the registry when it is read. */
interface Tally {
  inc(): void;
}
interface Observer {
  observe(seconds: number): void;
}

/** The per-request instruments of one route (its requests by outcome, their durations, upstream time). */
interface RouteInstruments {
  requests: Record<Outcome, Tally>;
  duration: Record<Outcome, Observer>;
  upstreamDuration: Observer;
}

interface PendingInstruments extends RouteInstruments {
  requests: Record<Outcome, PendingCount>;
  duration: Record<Outcome, PendingObservations>;
  upstreamDuration: PendingObservations;
}

/**
 * prom-client's bound children still validate and hash their labels and allocate on every call (~250 ns
 * per counter increment, ~550 ns per histogram observation on the bench machine: 1.4 µs of a forwarded
 * request). The hot path counts into these plain numbers instead, and the metric's `collect` (run by
 * prom-client before every read: scrape, cluster aggregation) folds them in; the exposition is unchanged.
 */
class PendingCount implements Tally {
  pending = 0;
  inc(): void {
    this.pending++;
  }
}

class PendingObservations implements Observer {
  /** Observations per bucket of LATENCY_BUCKETS (non-cumulative; the last slot is above every bound). */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** The series prom-client keeps for one label set of a histogram (`zero` creates it). */
interface HistogramSeries {
  labels: Record<string, string | number>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * Adds pending observations to a histogram's series. prom-client has no public call that adds counts to
 * buckets (only `observe`, one value at a time), so this writes the series `zero()` created, in the
 * shape its own `observe` keeps (a count per upper bound, not cumulative; sum; count). That shape is
 * prom-client's own, so package.json pins its exact version and test/gateway/metrics-counting.test.ts
 * checks the exposition after folding.
 */
function foldObservations(
  histogram: Histogram<string>,
  labels: Record<string, string>,
  pending: PendingObservations,
): void {
  if (pending.count === 0) return;
  const series = (histogram as unknown as { hashMap: Record<string, HistogramSeries> }).hashMap;
  const matches = (s: HistogramSeries) => Object.keys(labels).every((k) => s.labels[k] === labels[k]);
  let target = Object.values(series).find(matches);
  if (target === undefined) {
    histogram.zero(labels);
    target = Object.values(series).find(matches)!;
  }
  for (let i = 0; i < LATENCY_BUCKETS.length; i++)
    target.bucketValues[LATENCY_BUCKETS[i]!]! += pending.buckets[i]!;
  target.sum += pending.sum;
  target.count += pending.count;
  pending.buckets.fill(0);
  pending.sum = 0;
  pending.count = 0;
}

/**
 * `fapi_gateway_config_reloads_total`: kept by each gateway process and by a cluster primary (which
 * validates reloads and watches files for its workers); one definition so the two cannot drift apart.
 */
export function configReloadsCounter(registers: Registry[]): Counter<'kind' | 'result'> {
  const counter = new Counter({
    name: 'fapi_gateway_config_reloads_total',
    help: 'Reloads by kind (config on SIGHUP, watched TLS certificates, watched CA bundles) and result.',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  for (const kind of ['config', 'certificates', 'ca_bundles'])
    for (const result of ['success', 'failure']) counter.labels(kind, result).inc(0);
  return counter;
}

export interface GatewayMetricsSources {
  /**
   * The JWT verifier's key set; the jwks_* gauges exist only when JWT access tokens are configured at
   * start (undefined after a reload that removed them: the gauges then read 0).
   */
  jwks?: { ageSeconds(): number | undefined; keyCount(): number | undefined };
  ready: () => boolean;
  /** Requests with the upstream per route label (route-concurrency.ts). */
  routeInFlight?: () => Iterable<readonly [string, { inFlight: number }]>;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'outcome'>;
  readonly rejections: Counter<'reason' | 'client_id'>;
  readonly wouldRejects: Counter<'reason'>;
  readonly requestDuration: Histogram<'route' | 'outcome'>;
  readonly upstreamDuration: Histogram<'route'>;
  readonly upstreamErrors: Counter<'kind'>;
  readonly jwksFetches: Counter<'result'>;
  readonly tlsHandshakeFailures: Counter<'reason'>;
  readonly openConnections: Gauge;
  readonly connectionsRefused: Counter;
  readonly certificateExpiry: Gauge<'kind' | 'subject'>;
  readonly configReloads: Counter<'kind' | 'result'>;
  readonly tokenCacheHits: Counter;
  readonly introspectionCalls: Counter<'outcome'>;
  readonly introspectionDuration: Histogram;
  readonly introspectionCache: Counter<'result'>;
  readonly clientCertHeaderCache: Counter<'result'>;
  private readonly routeInstruments = new Map<string, PendingInstruments>();
  private readonly rejectionsUnknownClient = new Map<RejectionReason, Counter.Internal>();
  private readonly wouldRejectsByReason = new Map<RejectionReason, Counter.Internal>();

  constructor(sources: GatewayMetricsSources, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const routes = this.routeInstruments;
    this.requests = new Counter({
      name: 'fapi_gateway_requests_total',
      help: 'Requests by route (configured path or "unmatched") and outcome.',
      labelNames: ['route', 'outcome'],
      registers,
      collect() {
        for (const [route, i] of routes)
          for (const o of OUTCOMES) {
            const c = i.requests[o];
            if (c.pending === 0) continue;
            this.labels(route, o).inc(c.pending);
            c.pending = 0;
          }
      },
    });
    this.rejections = new Counter({
      name: 'fapi_gateway_rejections_total',
      help: 'Rejected requests by reason; client_id only from verified tokens, else "unknown".',
      labelNames: ['reason', 'client_id'],
      registers,
    });
    this.wouldRejects = new Counter({
      name: 'fapi_gateway_would_reject_total',
      help: 'Calls on report-only routes forwarded although a check failed, by the reason it would have refused them.',
      labelNames: ['reason'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'fapi_gateway_request_duration_seconds',
      help: 'Whole request at the gateway, from request to last response byte.',
      labelNames: ['route', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
      collect() {
        for (const [route, i] of routes)
          for (const o of OUTCOMES) foldObservations(this, { route, outcome: o }, i.duration[o]);
      },
    });
    this.upstreamDuration = new Histogram({
      name: 'fapi_gateway_upstream_duration_seconds',
      help: 'Upstream response time, from forwarding to the upstream response headers.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
      collect() {
        for (const [route, i] of routes) foldObservations(this, { route }, i.upstreamDuration);
      },
    });
    this.upstreamErrors = new Counter({
      name: 'fapi_gateway_upstream_errors_total',
      help: 'Upstream failures by kind (refused, timeout, reset, other).',
      labelNames: ['kind'],
      registers,
    });
    this.jwksFetches = new Counter({
      name: 'fapi_gateway_jwks_fetches_total',
      help: 'JWKS fetches by result.',
      labelNames: ['result'],
      registers,
    });
    const jwks = sources.jwks;
    if (jwks !== undefined) {
      new Gauge({
        name: 'fapi_gateway_jwks_age_seconds',
        help: 'Seconds since the JWKS was last fetched successfully (since start if never).',
        registers,
        aggregator: 'max',
        collect() {
          this.set(jwks.ageSeconds() ?? 0);
        },
      });
      new Gauge({
        name: 'fapi_gateway_jwks_keys',
        help: 'Keys in the cached JWKS.',
        registers,
        aggregator: 'min',
        collect() {
          this.set(jwks.keyCount() ?? 0);
        },
      });
    }
    this.tlsHandshakeFailures = new Counter({
      name: 'fapi_gateway_tls_handshake_failures_total',
      help: 'TLS handshakes refused, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.openConnections = new Gauge({
      name: 'fapi_gateway_open_connections',
      help: 'Open client TLS connections.',
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'fapi_gateway_connections_refused_total',
      help: 'Connections closed on accept because limits.maxConnections were already open in the process.',
      registers,
    });
    this.certificateExpiry = new Gauge({
      name: 'fapi_gateway_certificate_expiry_timestamp_seconds',
      help: 'notAfter (unix seconds) of the server certificate and each client CA.',
      labelNames: ['kind', 'subject'],
      registers,
      aggregator: 'min',
    });
    this.configReloads = configReloadsCounter(registers);
    this.tokenCacheHits = new Counter({
      name: 'fapi_gateway_token_cache_hits_total',
      help: 'Requests whose token was found in the verification cache (signature not re-verified).',
      registers,
    });
    this.introspectionCalls = new Counter({
      name: 'fapi_gateway_introspection_requests_total',
      help: 'Calls to the introspection endpoint by outcome (active, refused, or the failure: timeout, connection_error, http_error, invalid_response).',
      labelNames: ['outcome'],
      registers,
    });
    this.introspectionDuration = new Histogram({
      name: 'fapi_gateway_introspection_duration_seconds',
      help: 'Introspection call time, from request to the whole answer (or the failure).',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.introspectionCache = new Counter({
      name: 'fapi_gateway_introspection_cache_total',
      help: 'Introspected-token lookups by result: hit, negative_hit (cached refusal), miss.',
      labelNames: ['result'],
      registers,
    });
    this.clientCertHeaderCache = new Counter({
      name: 'fapi_gateway_client_cert_header_cache_total',
      help: "Trusted proxies' Client-Cert values by result: hit (parsed before), miss (parsed and validated now).",
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'fapi_gateway_buffered_body_bytes',
      help: 'Bytes of form bodies being read before authentication (bounded by limits.bufferedBodyBytes).',
      registers,
      collect() {
        this.set(bufferedBodyBytes());
      },
    });
    const routeInFlight = sources.routeInFlight;
    new Gauge({
      name: 'fapi_gateway_route_in_flight_requests',
      help: 'Requests with the upstream (forwarded or waiting for a pool connection) by route; at most routes[].maxConcurrent per process.',
      labelNames: ['route'],
      registers,
      collect() {
        if (routeInFlight !== undefined)
          for (const [route, slots] of routeInFlight()) this.labels(route).set(slots.inFlight);
      },
    });
    new Gauge({
      name: 'fapi_gateway_up',
      help: '1 while the gateway runs.',
      registers,
      aggregator: 'max',
      collect() {
        this.set(1);
      },
    });
    new Gauge({
      name: 'fapi_gateway_ready',
      help: '1 when /readyz answers 200 (signing keys loaded).',
      registers,
      aggregator: 'min',
      collect() {
        this.set(sources.ready() ? 1 : 0);
      },
    });
    // Every closed-set series exists from the start, so rates and alerts work before the first event.
    for (const reason of ALL_REJECTION_REASONS) {
      this.rejectionsUnknownClient.set(reason, this.rejections.labels(reason, 'unknown'));
      this.rejections.labels(reason, 'unknown').inc(0);
      if (!NEVER_REPORTED.has(reason)) {
        const would = this.wouldRejects.labels(reason);
        would.inc(0);
        this.wouldRejectsByReason.set(reason, would);
      }
    }
    for (const kind of UPSTREAM_ERROR_KINDS) this.upstreamErrors.labels(kind).inc(0);
    for (const r of HANDSHAKE_FAILURE_REASONS) this.tlsHandshakeFailures.labels(r).inc(0);
    for (const r of ['success', 'failure']) this.jwksFetches.labels(r).inc(0);
    for (const o of INTROSPECTION_OUTCOMES) this.introspectionCalls.labels(o).inc(0);
    for (const r of INTROSPECTION_CACHE_RESULTS) this.introspectionCache.labels(r).inc(0);
    for (const r of ['hit', 'miss']) this.clientCertHeaderCache.labels(r).inc(0);
    this.instrumentsFor(UNMATCHED_ROUTE);
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'fapi_gateway_' });
    }
  }

  instrumentsFor(route: string): RouteInstruments {
    let i = this.routeInstruments.get(route);
    if (!i) {
      const requests = {} as Record<Outcome, PendingCount>;
      const duration = {} as Record<Outcome, PendingObservations>;
      for (const o of OUTCOMES) {
        requests[o] = new PendingCount();
        this.requests.labels(route, o).inc(0);
        duration[o] = new PendingObservations();
      }
      i = { requests, duration, upstreamDuration: new PendingObservations() };
      this.routeInstruments.set(route, i);
    }
    return i;
  }

  countWouldReject(reason: RejectionReason): void {
    (this.wouldRejectsByReason.get(reason) ?? this.wouldRejects.labels(reason)).inc();
  }

  countRejection(reason: RejectionReason, clientId: string | undefined): void {
    if (clientId === undefined) this.rejectionsUnknownClient.get(reason)!.inc();
    else this.rejections.labels(reason, clientId).inc();
  }
}
