/**
 * The Grafana dashboard, built from a short list of panels so that every query is readable in one place.
 * Every query selects by the dashboard variables $namespace and $job; every metric it names must exist in
 * the gateway's /metrics output (checked by test/ops/observability-metrics.test.ts).
 */
const SEL = 'namespace=~"$namespace",job=~"$job"';
const sel = (extra = '') => `{${SEL}${extra ? `,${extra}` : ''}}`;

let nextId = 1;
function panel(type, title, description, gridPos, targets, extra = {}) {
  return {
    id: nextId++,
    type,
    title,
    description,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos,
    targets: targets.map(([expr, legendFormat, more = {}], i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: { type: 'prometheus', uid: '${datasource}' },
      expr,
      legendFormat,
      ...more,
    })),
    ...extra,
  };
}

const row = (title, y) => ({
  id: nextId++,
  type: 'row',
  title,
  collapsed: false,
  gridPos: { h: 1, w: 24, x: 0, y },
  panels: [],
});

function stat(title, description, x, y, expr, unit, thresholds, decimals) {
  return panel('stat', title, description, { h: 4, w: 4, x, y }, [[expr, '', { instant: true }]], {
    fieldConfig: {
      defaults: {
        unit,
        ...(decimals === undefined ? {} : { decimals }),
        thresholds: { mode: 'absolute', steps: thresholds },
        color: { mode: 'thresholds' },
      },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'none',
      textMode: 'auto',
    },
  });
}

function timeseries(title, description, gridPos, targets, unit, stacked = false) {
  return panel('timeseries', title, description, gridPos, targets, {
    fieldConfig: {
      defaults: {
        unit,
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: stacked ? 30 : 0,
          stacking: { mode: stacked ? 'normal' : 'none', group: 'A' },
          showPoints: 'never',
        },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'table', placement: 'right', calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  });
}

const green = (v = null) => ({ color: 'green', value: v });
// Grafana's base threshold step has value null (JSON null, not absent).
const color = (c, v = null) => ({ color: c, value: v });

const quantiles = (metric, by = '') =>
  [0.5, 0.95, 0.99].map((q) => [
    `histogram_quantile(${q}, sum by (le${by}) (rate(${metric}_bucket${sel()}[$__rate_interval])))`,
    `p${q * 100}${by ? ` {{${by.replace(/^, /, '')}}}` : ''}`,
  ]);

export function buildDashboard() {
  nextId = 1;
  const panels = [
    row('Overview', 0),
    stat(
      'Requests / s',
      'All requests reaching the gateway.',
      0,
      1,
      `sum(rate(fapi_gateway_requests_total${sel()}[$__rate_interval]))`,
      'reqps',
      [green()],
    ),
    stat(
      'Rejected',
      'Share of requests the gateway answered itself with a 4xx/503 (see Rejections by reason).',
      4,
      1,
      `sum(rate(fapi_gateway_rejections_total${sel()}[$__rate_interval])) / sum(rate(fapi_gateway_requests_total${sel()}[$__rate_interval]))`,
      'percentunit',
      [green(), color('orange', 0.05), color('red', 0.2)],
    ),
    stat(
      'cnf mismatches (range)',
      'Valid tokens presented over a TLS connection whose certificate does not match cnf.x5t#S256: possible token theft (RFC 8705 §3).',
      8,
      1,
      `sum(increase(fapi_gateway_rejections_total${sel('reason="binding_mismatch"')}[$__range])) or vector(0)`,
      'short',
      [green(), color('red', 1)],
      0,
    ),
    stat(
      'Ready pods',
      'Pods whose /readyz answers 200 (JWKS loaded).',
      12,
      1,
      `sum(fapi_gateway_ready${sel()})`,
      'short',
      [color('red'), color('green', 1)],
      0,
    ),
    stat(
      'Server certificate expires in',
      'Time left before the earliest server certificate notAfter.',
      16,
      1,
      `min(fapi_gateway_certificate_expiry_timestamp_seconds${sel('kind="server"')}) - time()`,
      's',
      [color('red'), color('orange', 14 * 86400), color('green', 30 * 86400)],
    ),
    stat(
      'JWKS age',
      'Seconds since the oldest pod last fetched the JWKS.',
      20,
      1,
      `max(fapi_gateway_jwks_age_seconds${sel()})`,
      's',
      [green(), color('orange', 900), color('red', 3600)],
    ),

    row('Traffic and rejections', 5),
    timeseries(
      'Requests by outcome',
      'forwarded: passed every check; rejected: answered by the gateway; upstream_error: 502/504 from the upstream.',
      { h: 8, w: 12, x: 0, y: 6 },
      [[`sum by (outcome) (rate(fapi_gateway_requests_total${sel()}[$__rate_interval]))`, '{{outcome}}']],
      'reqps',
      true,
    ),
    timeseries(
      'Rejections by reason',
      'Closed set of reasons (docs/metrics.md).',
      { h: 8, w: 12, x: 12, y: 6 },
      [[`sum by (reason) (rate(fapi_gateway_rejections_total${sel()}[$__rate_interval]))`, '{{reason}}']],
      'reqps',
      true,
    ),
    panel(
      'table',
      'Top rejected clients',
      'Verified client_id of rejected requests over the dashboard range (unknown: the token failed validation).',
      { h: 8, w: 12, x: 0, y: 14 },
      [
        [
          `topk(10, sum by (client_id, reason) (increase(fapi_gateway_rejections_total${sel()}[$__range])))`,
          '',
          { instant: true, format: 'table' },
        ],
      ],
      {
        fieldConfig: { defaults: { decimals: 0 }, overrides: [] },
        options: { showHeader: true, sortBy: [{ displayName: 'Value', desc: true }] },
        transformations: [
          {
            id: 'organize',
            options: { excludeByName: { Time: true }, renameByName: { Value: 'rejections' } },
          },
        ],
      },
    ),
    timeseries(
      'Requests by route',
      'Request rate per configured route path.',
      { h: 8, w: 12, x: 12, y: 14 },
      [[`sum by (route) (rate(fapi_gateway_requests_total${sel()}[$__rate_interval]))`, '{{route}}']],
      'reqps',
    ),

    row('Latency and upstream', 22),
    timeseries(
      'Gateway latency',
      'Whole request at the gateway (p50, p95, p99).',
      { h: 8, w: 12, x: 0, y: 23 },
      quantiles('fapi_gateway_request_duration_seconds'),
      's',
    ),
    timeseries(
      'Upstream latency',
      'Upstream response time (p50, p95, p99).',
      { h: 8, w: 12, x: 12, y: 23 },
      quantiles('fapi_gateway_upstream_duration_seconds'),
      's',
    ),
    timeseries(
      'Upstream errors by kind',
      'Connection refused, timeouts (504), resets and other upstream failures.',
      { h: 8, w: 12, x: 0, y: 31 },
      [[`sum by (kind) (rate(fapi_gateway_upstream_errors_total${sel()}[$__rate_interval]))`, '{{kind}}']],
      'reqps',
      true,
    ),
    timeseries(
      'TLS handshake failures',
      'Failed mutual-TLS handshakes by reason (no certificate, untrusted CA, protocol, cipher).',
      { h: 8, w: 12, x: 12, y: 31 },
      [
        [
          `sum by (reason) (rate(fapi_gateway_tls_handshake_failures_total${sel()}[$__rate_interval]))`,
          '{{reason}}',
        ],
      ],
      'ops',
      true,
    ),

    row('Keys, certificates and process', 39),
    timeseries(
      'JWKS age and fetches',
      'Seconds since the last successful JWKS fetch per pod; failed fetches on the right axis.',
      { h: 8, w: 12, x: 0, y: 40 },
      [
        [`max by (pod) (fapi_gateway_jwks_age_seconds${sel()})`, 'age {{pod}}'],
        [
          `sum by (result) (increase(fapi_gateway_jwks_fetches_total${sel()}[$__rate_interval]))`,
          'fetches {{result}}',
        ],
      ],
      's',
    ),
    panel(
      'table',
      'Certificate expiry',
      'Server certificate and trusted client CAs, time left before notAfter.',
      { h: 8, w: 12, x: 12, y: 40 },
      [
        [
          `min by (kind, subject) (fapi_gateway_certificate_expiry_timestamp_seconds${sel()}) - time()`,
          '',
          { instant: true, format: 'table' },
        ],
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 's',
            thresholds: {
              mode: 'absolute',
              steps: [color('red'), color('orange', 14 * 86400), color('green', 30 * 86400)],
            },
            custom: { cellOptions: { type: 'color-background' } },
          },
          overrides: [],
        },
        options: { showHeader: true, sortBy: [{ displayName: 'Value', desc: false }] },
        transformations: [
          {
            id: 'organize',
            options: { excludeByName: { Time: true }, renameByName: { Value: 'expires in' } },
          },
        ],
      },
    ),
    timeseries(
      'Connections, workers, token cache, reloads',
      'Open client connections; live workers and replaced (crashed) workers; requests served from the verified-token cache per second; configuration and certificate reloads by result.',
      { h: 8, w: 12, x: 0, y: 48 },
      [
        [`sum(fapi_gateway_open_connections${sel()})`, 'open connections'],
        [`sum(fapi_gateway_workers${sel()})`, 'workers'],
        [`sum(increase(fapi_gateway_worker_restarts_total${sel()}[$__rate_interval]))`, 'worker restarts'],
        [`sum(rate(fapi_gateway_token_cache_hits_total${sel()}[$__rate_interval]))`, 'token cache hits / s'],
        [
          `sum by (kind, result) (increase(fapi_gateway_config_reloads_total${sel()}[$__rate_interval]))`,
          'reload {{kind}} {{result}}',
        ],
      ],
      'short',
    ),
    timeseries(
      'Process CPU, memory, event loop',
      'Per pod (prom-client default metrics; all workers summed).',
      { h: 8, w: 12, x: 12, y: 48 },
      [
        [
          `sum by (pod) (rate(fapi_gateway_process_cpu_seconds_total${sel()}[$__rate_interval]))`,
          'cpu {{pod}}',
        ],
        [`sum by (pod) (fapi_gateway_process_resident_memory_bytes${sel()}) / 1e9`, 'rss GB {{pod}}'],
        [`max by (pod) (fapi_gateway_nodejs_eventloop_lag_p99_seconds${sel()})`, 'event loop p99 s {{pod}}'],
      ],
      'short',
    ),

    row('Token introspection', 56),
    timeseries(
      'Introspection calls by outcome',
      'Calls to the RFC 7662 introspection endpoint: active, refused (active false or a rule failed), and the failures that answer 503 (timeout, connection_error, http_error, invalid_response).',
      { h: 8, w: 12, x: 0, y: 57 },
      [
        [
          `sum by (outcome) (rate(fapi_gateway_introspection_requests_total${sel()}[$__rate_interval]))`,
          '{{outcome}}',
        ],
      ],
      'reqps',
      true,
    ),
    timeseries(
      'Introspection latency',
      'One introspection call, from request to the whole answer (p50, p95, p99); bounded by tokens.introspection.timeoutMs.',
      { h: 8, w: 12, x: 12, y: 57 },
      quantiles('fapi_gateway_introspection_duration_seconds'),
      's',
    ),
    timeseries(
      'Introspection failures (503)',
      'Requests answered 503 introspection_unavailable, and the endpoint failures behind them by kind.',
      { h: 8, w: 12, x: 0, y: 65 },
      [
        [
          `sum(rate(fapi_gateway_rejections_total${sel('reason="introspection_unavailable"')}[$__rate_interval]))`,
          '503 answered',
        ],
        [
          `sum by (outcome) (rate(fapi_gateway_introspection_requests_total${sel('outcome!~"active|refused"')}[$__rate_interval]))`,
          '{{outcome}}',
        ],
      ],
      'reqps',
    ),
    timeseries(
      'Introspection cache hit ratio',
      'Share of opaque-token lookups answered from the cache (hits and cached refusals); misses call the endpoint.',
      { h: 8, w: 12, x: 12, y: 65 },
      [
        [
          `sum(rate(fapi_gateway_introspection_cache_total${sel('result!="miss"')}[$__rate_interval])) / sum(rate(fapi_gateway_introspection_cache_total${sel()}[$__rate_interval]))`,
          'hit ratio',
        ],
      ],
      'percentunit',
    ),
    row('Token binding', 73),
    timeseries(
      'DPoP rejections by reason',
      'Refused DPoP proofs and DPoP-bound tokens (docs/dpop.md): invalid_dpop_proof reasons, use_dpop_nonce (dpop_nonce), key mismatches, replay-store failures.',
      { h: 8, w: 12, x: 0, y: 74 },
      [
        [
          `sum by (reason) (rate(fapi_gateway_rejections_total${sel('reason=~"dpop_.+"')}[$__rate_interval]))`,
          '{{reason}}',
        ],
      ],
      'reqps',
      true,
    ),
  ];
  const variable = (name, label, query) => ({
    name,
    label,
    type: 'query',
    datasource: { type: 'prometheus', uid: '${datasource}' },
    query: { query, refId: name },
    refresh: 2,
    includeAll: true,
    multi: true,
    current: { text: 'All', value: '$__all' },
    sort: 1,
  });
  return {
    title: 'FAPI gateway',
    uid: 'fapi-gateway',
    description:
      'Traffic, rejections, latency, upstream, JWKS, introspection, TLS and certificates of fapi-gateway.',
    tags: ['fapi-gateway', 'oauth2', 'mtls'],
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          hide: 0,
        },
        variable('namespace', 'Namespace', 'label_values(fapi_gateway_up, namespace)'),
        variable('job', 'Job', 'label_values(fapi_gateway_up{namespace=~"$namespace"}, job)'),
      ],
    },
    panels,
  };
}
