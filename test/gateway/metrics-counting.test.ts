import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { GatewayMetrics } from '../../src/gateway/metrics.js';

/** The same buckets the gateway's latency histograms use (a reference fed through prom-client's observe). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** On a bound, between bounds, below the first and above the last. */
const SECONDS = [0, 0.0005, 0.0007, 0.001, 0.003, 0.05, 0.5, 2.5, 29.9, 30, 31, 120];

function series(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .sort();
}

t.test('per-request counts reach the exposition exactly as prom-client would count them', async (t) => {
  const m = new GatewayMetrics({ ready: () => true }, { defaultMetrics: false });
  const reference = new Registry();
  const expected = new Histogram({
    name: 'fapi_gateway_request_duration_seconds',
    help: 'reference',
    labelNames: ['route', 'outcome'],
    buckets: BUCKETS,
    registers: [reference],
  });
  const expectedUpstream = new Histogram({
    name: 'fapi_gateway_upstream_duration_seconds',
    help: 'reference',
    labelNames: ['route'],
    buckets: BUCKETS,
    registers: [reference],
  });
  const route = m.instrumentsFor('/accounts');
  const feed = () => {
    for (const s of SECONDS) {
      route.requests.forwarded.inc();
      route.duration.forwarded.observe(s);
      route.upstreamDuration.observe(s / 2);
      expected.labels('/accounts', 'forwarded').observe(s);
      expectedUpstream.labels('/accounts').observe(s / 2);
    }
    route.requests.rejected.inc();
    route.duration.rejected.observe(0.002);
    expected.labels('/accounts', 'rejected').observe(0.002);
  };
  // Twice, with a scrape between: what was folded in once is not added again.
  for (const round of [1, 2]) {
    feed();
    const text = await m.registry.metrics();
    const want = await reference.metrics();
    for (const name of ['fapi_gateway_request_duration_seconds', 'fapi_gateway_upstream_duration_seconds'])
      t.same(
        series(text, `${name}_`).filter((l) => l.includes('/accounts')),
        series(want, `${name}_`),
        `${name}, round ${round}`,
      );
    t.match(
      text,
      `fapi_gateway_requests_total{route="/accounts",outcome="forwarded"} ${SECONDS.length * round}\n`,
    );
    t.match(text, `fapi_gateway_requests_total{route="/accounts",outcome="rejected"} ${round}\n`);
    t.match(text, `fapi_gateway_requests_total{route="/accounts",outcome="upstream_error"} 0\n`);
  }
  // The JSON form (what a cluster primary aggregates) carries the same counts.
  const json = await m.registry.getMetricsAsJSON();
  const count = json
    .find((x) => x.name === 'fapi_gateway_request_duration_seconds')!
    .values.find(
      (v) =>
        (v as { metricName?: string }).metricName === 'fapi_gateway_request_duration_seconds_count' &&
        v.labels.outcome === 'forwarded',
    );
  t.equal(count?.value, SECONDS.length * 2);
});

t.test('counts made after a registry reset start from zero and are not lost', async (t) => {
  const m = new GatewayMetrics({ ready: () => true }, { defaultMetrics: false });
  const route = m.instrumentsFor('/x');
  route.duration.forwarded.observe(0.01);
  await m.registry.metrics();
  m.registry.resetMetrics();
  route.requests.forwarded.inc();
  route.duration.forwarded.observe(0.2);
  const text = await m.registry.metrics();
  t.match(text, 'fapi_gateway_request_duration_seconds_count{route="/x",outcome="forwarded"} 1\n');
  t.match(text, 'fapi_gateway_request_duration_seconds_bucket{le="0.25",route="/x",outcome="forwarded"} 1\n');
  t.match(text, 'fapi_gateway_request_duration_seconds_bucket{le="0.1",route="/x",outcome="forwarded"} 0\n');
  t.match(text, 'fapi_gateway_requests_total{route="/x",outcome="forwarded"} 1\n');
});
