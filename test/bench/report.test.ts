// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
// The published numbers are medians over interleaved rounds and the block in docs/benchmarks.md is replaced, not appended.
import t from 'tap';
import {
  connectionSweep,
  embedInPage,
  loadLine,
  median,
  ratio,
  summarize,
  type BenchReport,
  type RoundResult,
} from '../../bench/report.js';
import { percentiles } from '../../bench/load.js';
import { withConnectionCounts } from '../../bench/scenarios.js';
import { targetChecks } from '../../bench/objectives.js';

const round = (rps: number, p99: number, extra: Partial<RoundResult> = {}): RoundResult => ({
  round: 0,
  requests: rps * 4,
  seconds: 4,
  rps,
  latencyMs: { p50: p99 / 4, p99, p999: p99 * 2, max: p99 * 3 },
  non2xx: 0,
  errors: 0,
  timeouts: 0,
  driverCpuPercent: 50,
  cpuPercent: 90,
  peakRssMiB: 60,
  peakProcessRssMiB: 60,
  ...extra,
});

t.test('medians of odd and even counts', (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([]), 0);
  t.end();
});

t.test('a summary takes medians of rates and latencies, sums failures and keeps the peak RSS', (t) => {
  const s = summarize([
    round(100, 4),
    round(300, 2, { non2xx: 2, peakRssMiB: 80 }),
    round(200, 3, { errors: 1 }),
  ]);
  t.equal(s.rps, 200);
  t.equal(s.p99, 3);
  t.equal(s.non2xx, 2);
  t.equal(s.errors, 1);
  t.equal(s.peakRssMiB, 80);
  t.equal(s.rounds, 3);
  t.end();
});

t.test("the gateway's cache share is a median over rounds, absent when a round did not report it", (t) => {
  const hits = (cacheHitPercent: number) => round(100, 1, { cacheHitPercent });
  t.equal(summarize([hits(70), hits(80), hits(75)]).cacheHitPercent, 75);
  t.equal(summarize([hits(70), round(100, 1)]).cacheHitPercent, undefined, 'peers report none');
  t.end();
});

t.test('ratios are undefined when either side was not measured', (t) => {
  t.equal(ratio(150, 100), 1.5);
  t.equal(ratio(undefined, 100), undefined);
  t.equal(ratio(150, 0), undefined);
  t.end();
});

t.test('exact percentiles from raw samples', (t) => {
  const samples = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  t.same(percentiles(samples), { p50: 500, p99: 990, p999: 999, max: 1000 });
  t.same(percentiles(new Float64Array(0)), { p50: 0, p99: 0, p999: 0, max: 0 });
  t.end();
});

t.test("the page's block between the bench markers is replaced, the rest kept", (t) => {
  const page = 'intro\n<!-- bench:table:start -->\nold table\n<!-- bench:table:end -->\noutro\n';
  const once = embedInPage(page, '| new |\n')!;
  t.equal(once, 'intro\n<!-- bench:table:start -->\n\n| new |\n\n<!-- bench:table:end -->\noutro\n');
  t.equal(embedInPage(once, '| new |\n'), once, 'idempotent');
  t.equal(embedInPage('no markers', 'x'), undefined);
  t.end();
});

t.test("the machine's load average over the rounds heads the table when recorded", (t) => {
  const report = {
    rounds: { a: { gateway: [round(100, 1, { loadAverage: 2.5 }), round(100, 1, { loadAverage: 9 })] } },
  } as unknown as BenchReport;
  t.match(loadLine(report)[0], /median 5\.8, from 2\.5 to 9\.0/);
  t.same(loadLine({ rounds: { a: { gateway: [round(100, 1)] } } } as unknown as BenchReport), []);
  t.end();
});

t.test('the issuer is judged against node-oidc-provider on tokens/s and on CPU per token', async (t) => {
  const { issuerChecks } = await import('../../bench/objectives.js');
  const ours = summarize([round(3000, 10, { cpuPercent: 90 })]);
  const peer = summarize([round(2000, 10, { cpuPercent: 100 })]);
  const checks = issuerChecks({ i1: { issuer: ours, 'oidc-provider': peer }, i2: { issuer: ours } });
  t.same(
    checks.map((c) => [c.scenario, c.measured, c.met]),
    [
      ['i1', '1.50x', true],
      ['i1', '1.67x (300 vs 500 µs)', true],
    ],
    'one pair of checks per scenario both servers were measured in',
  );
});

t.test('a connection sweep repeats the swept scenarios per count, with their own ratios', (t) => {
  const base = { url: 'https://x/accounts', connections: 50, durationSeconds: 1, maxRequests: 10 };
  const scenario = (id: string) => ({ id, title: `(${id}) t`, targets: [], spec: (b: typeof base) => b });
  const swept = withConnectionCounts(() => [scenario('a'), scenario('c')], [50, 16, 256]);
  t.same(
    swept.map((s) => s.id),
    ['a', 'c', 'a@16', 'a@256'],
    'only the swept scenarios are repeated',
  );
  t.equal(swept[2]!.spec(base, 0).connections, 16, 'each with its own connection count');
  const summary = (rps: number, us: number) => summarize([round(rps, 4, { cpuPercent: (rps * us) / 1e4 })]);
  const p99 = (ms: number) => summarize([round(1000, ms)]);
  const report = {
    settings: { connectionCounts: [50, 256] },
    scenarios: [{ id: 'a', title: '(a) one token' }],
    targets: [
      { id: 'gateway', label: 'fapi-gateway (1 process)' },
      { id: 'gateway-compare', label: 'fapi-gateway (1 process, Node 20)' },
    ],
    summaries: {
      a: { gateway: summary(1500, 60), haproxy: summary(1000, 100), nginx: summary(3000, 20) },
      'a@256': {
        gateway: summary(900, 90),
        'gateway-compare': summary(800, 110),
        haproxy: summary(1000, 100),
      },
      'a-half@256': { gateway: p99(4), haproxy: p99(5) },
      'a-80@256': { gateway: p99(9), haproxy: p99(7) },
    },
  } as unknown as BenchReport;
  const lines = connectionSweep(report).join('\n');
  t.match(
    lines,
    /\| \(a\) one token \| 50 \| fapi-gateway \(1 process\) \| 1\.50x \| 0\.50x \| 60 \/ 100 \/ 20 \| -; - \|/,
  );
  t.match(
    lines,
    /\| \(a\) one token \| 256 \| fapi-gateway \(1 process\) \| 0\.90x \| n\/a \| 90 \/ 100 \/ - \| 4\.00 vs 5\.00; 9\.00 vs 7\.00 \|/,
  );
  t.match(
    lines,
    /\| \(a\) one token \| 256 \| fapi-gateway \(1 process, Node 20\) \| 0\.80x \|/,
    'a row per Node',
  );
  const checks = targetChecks(report.summaries, undefined, report.targets, [50, 256]);
  t.same(
    checks.filter((c) => c.scenario.endsWith('@256')).map((c) => [c.target, c.scenario, c.met]),
    [
      ['fapi-gateway (1 process) / HAProxy req/s', 'a@256', false],
      ['fapi-gateway (1 process) p99 at half HAProxy max rate', 'a-half@256', true],
      ['fapi-gateway (1 process) p99 at 80% of HAProxy max rate', 'a-80@256', false],
      ['fapi-gateway (1 process, Node 20) / HAProxy req/s', 'a@256', false],
    ],
    'each objective per connection count and per Node, where measured',
  );
  t.same(connectionSweep({ ...report, settings: { connectionCounts: [50] } }), [], 'no sweep, no table');
  t.end();
});
