/**
 * The issuer's Prometheus metrics (prefix `fapi_issuer_`), one registry per issuer instance so several
 * issuers can run in one process (tests). Label values come from closed sets (endpoint names, RFC error
 * codes, reasons chosen in code, configured client auth methods and grant types), never from requests.
 * Later features register their own metrics on `registry`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ISSUER_REFUSAL_REASONS } from './refusals.js';

export interface IssuerMetrics {
  registry: Registry;
  tokensIssued: Counter<'grant_type' | 'auth_method'>;
  failures: Counter<'endpoint' | 'error' | 'reason'>;
  /** Every reason of refusals.ts is a series from the start (0 until it happens). */
  refusals: Counter<'reason'>;
  clientAuthentications: Counter<'method' | 'result'>;
  requests: Counter<'endpoint' | 'status'>;
  requestDuration: Histogram<'endpoint'>;
  tokensRevoked: Counter<'token_type'>;
  introspections: Counter<'active'>;
  ready: Gauge;
  tlsHandshakeFailures: Counter<'listener' | 'reason'>;
  connectionsRefused: Counter<'listener'>;
}

export function createIssuerMetrics(): IssuerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fapi_issuer_' });
  const registers = [registry];
  const up = new Gauge({ name: 'fapi_issuer_up', help: '1 while the issuer process runs.', registers });
  up.set(1);
  return {
    registry,
    tokensIssued: new Counter({
      name: 'fapi_issuer_tokens_issued_total',
      help: 'Access tokens issued, by grant type and client authentication method.',
      labelNames: ['grant_type', 'auth_method'],
      registers,
    }),
    failures: new Counter({
      name: 'fapi_issuer_failures_total',
      help: 'Refused requests, by endpoint, OAuth error code and reason.',
      labelNames: ['endpoint', 'error', 'reason'],
      registers,
    }),
    refusals: refusalsCounter(registers),
    clientAuthentications: new Counter({
      name: 'fapi_issuer_client_authentications_total',
      help: 'Client authentication attempts, by method and result (success|failure).',
      labelNames: ['method', 'result'],
      registers,
    }),
    requests: new Counter({
      name: 'fapi_issuer_requests_total',
      help: 'HTTP requests, by endpoint and status code.',
      labelNames: ['endpoint', 'status'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'fapi_issuer_request_duration_seconds',
      help: 'Request duration at the issuer, by endpoint.',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    tokensRevoked: new Counter({
      name: 'fapi_issuer_tokens_revoked_total',
      help: 'Tokens revoked (RFC 7009), by token type.',
      labelNames: ['token_type'],
      registers,
    }),
    introspections: new Counter({
      name: 'fapi_issuer_introspections_total',
      help: 'Introspection answers (RFC 7662), by active (true|false).',
      labelNames: ['active'],
      registers,
    }),
    ready: new Gauge({ name: 'fapi_issuer_ready', help: '1 when /readyz answers 200.', registers }),
    tlsHandshakeFailures: new Counter({
      name: 'fapi_issuer_tls_handshake_failures_total',
      help: 'Failed TLS handshakes and refused client certificates, by listener (main|mtls) and reason.',
      labelNames: ['listener', 'reason'],
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'fapi_issuer_connections_refused_total',
      help: 'Connections closed on accept because limits.maxConnections were already open, by listener.',
      labelNames: ['listener'],
      registers,
    }),
  };
}

function refusalsCounter(registers: Registry[]): Counter<'reason'> {
  const counter = new Counter({
    name: 'fapi_issuer_refusals_total',
    help: 'Refused requests, by reason (docs/metrics.md lists every reason with its error code and status).',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of ISSUER_REFUSAL_REASONS) counter.inc({ reason }, 0);
  return counter;
}
