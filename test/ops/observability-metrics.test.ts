/**
 * The dashboard and the alerts query what a real gateway exposes: a gateway serves forwarded, rejected,
 * refused-handshake and upstream-error traffic, its /metrics is scraped, `promtool check metrics` passes
 * on the scrape, and every metric (and every label) the dashboard and the PrometheusRule use is in it.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGatewayFixture } from '../helpers/gateway.js';
import { startGatewayProcessFixture } from '../helpers/gateway-process.js';
import { fetchText } from '../helpers/metrics-text.js';
import { promtool } from '../helpers/promtool.js';
import { mtlsRequest, tlsHandshake } from '../helpers/tls-client.js';
import { mintAccessToken } from '../helpers/tokens.js';
import { allOnValues, find, renderChart, repoRoot, RELEASE } from '../helpers/helm.js';

/** Labels Prometheus adds from the scrape target (not in /metrics). */
const TARGET_LABELS = new Set(['job', 'namespace', 'pod', 'instance', 'service', 'container', 'endpoint']);
/** prom-client gauges named `*_total`: `promtool check metrics` rejects them (counter suffix on a gauge). */
const PROMTOOL_KNOWN = /^fapi_gateway_nodejs_active_(handles|requests|resources)_total$/;

function withoutKnownPromtoolComplaints(text: string): string {
  return text
    .split('\n')
    .filter((l) => {
      const name = /^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(l)?.[1];
      return !name || !PROMTOOL_KNOWN.test(name);
    })
    .join('\n');
}

/** The /metrics bodies the tests below scraped (single process, then workers: 2). */
const scrapes: string[] = [];

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return { types, samples };
}

/** Every query of the dashboard and of the rendered PrometheusRule. */
async function queries(): Promise<{ where: string; expr: string }[]> {
  const dashboard = JSON.parse(
    readFileSync(path.join(repoRoot, 'charts/fapi-gateway/dashboards/fapi-gateway.json'), 'utf8'),
  ) as {
    panels: { title: string; targets?: { expr: string; legendFormat?: string }[] }[];
    templating: { list: { name: string; query?: unknown }[] };
  };
  const out: { where: string; expr: string }[] = [];
  for (const p of dashboard.panels)
    for (const target of p.targets ?? [])
      out.push({ where: `panel "${p.title}"`, expr: `${target.expr} ${target.legendFormat ?? ''}` });
  for (const v of dashboard.templating.list) {
    const q = v.query as { query?: string } | string | undefined;
    const text = typeof q === 'string' ? q : q?.query;
    if (text && text !== 'prometheus') out.push({ where: `variable ${v.name}`, expr: text });
  }
  const rule = find(await renderChart([allOnValues]), 'PrometheusRule', `${RELEASE}-fapi-gateway`);
  for (const g of (rule.spec as { groups: { rules: { alert: string; expr: string }[] }[] }).groups)
    for (const r of g.rules) out.push({ where: `alert ${r.alert}`, expr: r.expr });
  return out;
}

t.test('a live scrape passes promtool and holds every metric the dashboard and alerts use', async (t) => {
  // Default metrics on, as in production: the dashboard's process panel reads them.
  const { pki, key, upstream, gateway } = await startGatewayFixture(t, {}, { defaultMetrics: true });

  const request = async (token: string | undefined, client = pki.clientA) =>
    mtlsRequest({
      port: gateway.listenPort,
      caPem: pki.ca.certPem,
      client,
      path: '/accounts/1',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const bound = await mintAccessToken(key, { thumbprint: pki.clientA.thumbprint });
  t.equal((await request(bound)).status, 200, 'forwarded');
  t.equal((await request(bound, pki.clientB)).status, 401, 'binding_mismatch');
  t.equal((await request(undefined)).status, 401, 'token_missing');
  const refused = await tlsHandshake({ port: gateway.listenPort, caPem: pki.ca.certPem });
  t.notOk(refused.ok, 'handshake without a client certificate refused');
  await upstream.close();
  t.equal((await request(bound)).status, 502, 'upstream refused');

  const scrape = await fetchText(gateway.adminPort, '/metrics');
  t.equal(scrape.status, 200);
  scrapes.push(scrape.body);
  const { samples } = parseExposition(scrape.body);

  t.test('promtool check metrics', async (t) => {
    // Unfiltered, the only complaints are prom-client's three `_total` gauges (FACTS.md)...
    const raw = await promtool(['check', 'metrics'], { input: scrape.body });
    const complaints = raw.output
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.split(/\s+/)[0]!);
    t.ok(
      complaints.every((name) => PROMTOOL_KNOWN.test(name)),
      `only the known complaints: ${raw.output}`,
    );
    // ...and without them the scrape passes.
    const clean = await promtool(['check', 'metrics'], {
      input: withoutKnownPromtoolComplaints(scrape.body),
    });
    t.equal(clean.code, 0, clean.output);
    t.equal(clean.output.trim(), '');
  });

  t.test('the contract metrics carry the traffic just served', (t) => {
    const has = (name: string, labels: Record<string, string>) =>
      samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    t.ok(has('fapi_gateway_rejections_total', { reason: 'binding_mismatch', client_id: 'client-a' }));
    t.ok(has('fapi_gateway_requests_total', { route: '/accounts', outcome: 'forwarded' }));
    t.ok(has('fapi_gateway_upstream_errors_total', { kind: 'refused' }));
    t.ok(has('fapi_gateway_tls_handshake_failures_total', { reason: 'no_certificate' }));
    // The expiry gauges carry the real notAfter of the server certificate and of the client CA.
    const expiry = (kind: string) =>
      samples.filter(
        (s) => s.name === 'fapi_gateway_certificate_expiry_timestamp_seconds' && s.labels.kind === kind,
      );
    const notAfter = (pem: string) => Date.parse(new X509Certificate(pem).validTo) / 1000;
    t.same(
      expiry('server').map((s) => s.value),
      [notAfter(pki.server.certPem)],
    );
    t.same(
      expiry('client_ca').map((s) => s.value),
      [notAfter(pki.ca.certPem)],
    );
    t.end();
  });
});

t.test(
  'a multi-worker gateway process aggregates its workers in one scrape that passes promtool',
  async (t) => {
    const { pki, key, gateway } = await startGatewayProcessFixture(t, { overrides: { workers: 2 } });

    const token = await mintAccessToken(key, { thumbprint: pki.clientA.thumbprint });
    const REQUESTS = 8;
    for (let i = 0; i < REQUESTS; i++) {
      const r = await mtlsRequest({
        port: gateway.listenPort,
        caPem: pki.ca.certPem,
        client: pki.clientA,
        path: '/accounts/1',
        headers: { authorization: `Bearer ${token}` },
      });
      t.equal(r.status, 200);
    }
    const scrape = await fetchText(gateway.adminPort, '/metrics');
    t.equal(scrape.status, 200);
    scrapes.push(scrape.body);
    const { samples } = parseExposition(scrape.body);
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0);
    t.equal(
      value('fapi_gateway_requests_total', { route: '/accounts', outcome: 'forwarded' }),
      REQUESTS,
      'every worker counted once',
    );
    t.equal(value('fapi_gateway_up'), 1);
    t.equal(value('fapi_gateway_ready'), 1);
    t.equal(value('fapi_gateway_workers'), 2, 'the primary reports its live workers');
    const check = await promtool(['check', 'metrics'], {
      input: withoutKnownPromtoolComplaints(scrape.body),
    });
    t.equal(check.code, 0, check.output);
  },
);

t.test('every metric and label the dashboard and the alerts query exists in the scrapes', async (t) => {
  // Single-process and multi-worker gateways together (the primary adds the worker metrics).
  t.equal(scrapes.length, 2, 'both scrapes were taken');
  const { types, samples } = parseExposition(scrapes.join('\n'));
  const names = new Set([...types.keys(), ...samples.map((s) => s.name)]);
  const labelsOf = (name: string) =>
    new Set(samples.filter((s) => s.name === name).flatMap((s) => Object.keys(s.labels)));
  const all = await queries();
  t.ok(all.length > 25, `${all.length} queries`);
  const used = new Set<string>();
  for (const { where, expr } of all) {
    const metrics = [...expr.matchAll(/\b(fapi_gateway_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
    t.ok(metrics.length > 0, `${where} queries a gateway metric`);
    // No other metric source (kube-state-metrics, node exporter) is assumed.
    const otherSelectors = [...expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\{/g)]
      .map((m) => m[1]!)
      .filter((n) => !n.startsWith('fapi_gateway_'));
    t.same(otherSelectors, [], `${where}: only fapi_gateway_* selectors`);
    const labels = new Set<string>();
    for (const m of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g))
      for (const l of m[1]!.split(',')) if (l.trim()) labels.add(l.trim());
    for (const m of expr.matchAll(/\{([^}]*)\}/g))
      for (const l of m[1]!.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) labels.add(l[1]!);
    for (const m of expr.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) labels.add(m[1]!);
    for (const name of metrics) {
      used.add(name);
      t.ok(names.has(name), `${where}: ${name} is exposed`);
    }
    for (const label of labels) {
      if (TARGET_LABELS.has(label) || label === 'le') continue;
      t.ok(
        metrics.some((n) => labelsOf(n).has(label)),
        `${where}: label ${label} is on ${metrics.join(', ')}`,
      );
    }
  }
  // What an operator watches: each of these is on the dashboard or in an alert.
  for (const required of [
    'fapi_gateway_requests_total',
    'fapi_gateway_rejections_total',
    'fapi_gateway_request_duration_seconds_bucket',
    'fapi_gateway_upstream_duration_seconds_bucket',
    'fapi_gateway_upstream_errors_total',
    'fapi_gateway_jwks_age_seconds',
    'fapi_gateway_jwks_fetches_total',
    'fapi_gateway_tls_handshake_failures_total',
    'fapi_gateway_certificate_expiry_timestamp_seconds',
    'fapi_gateway_ready',
  ])
    t.ok(used.has(required), `${required} is used`);
});
