/**
 * Turning rounds into the published result: medians per target and scenario, the ratios the performance
 * objectives are stated in, and the Markdown table docs/benchmarks.md embeds. Pure functions over plain values.
 */
import type { LoadResult } from './load.js';
import type { ProcessUsage } from './proc-stats.js';

export interface RoundResult extends LoadResult, ProcessUsage {
  round: number;
  /** fapi-gateway only: % of the round's requests answered from the token verification cache. */
  cacheHitPercent?: number;
  /** The machine's 1-minute load average when the round ended: other work competing for the cores. */
  loadAverage?: number;
  /**
   * Targets keeping their state in Redis: commands Redis ran per token request over the window (each one
   * round trip: an `EVALSHA` is one), the same by command, and the Redis server's CPU (% of one core).
   */
  redisRoundTrips?: number;
  redisCommands?: Record<string, number>;
  redisCpuPercent?: number;
  /**
   * Socket reads Redis processed per token request (`total_reads_processed`): below the commands when
   * the replicas send the commands of concurrent requests in one write (pipelining).
   */
  redisReadsPerRequest?: number;
}

export interface Summary {
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  non2xx: number;
  errors: number;
  cpuPercent: number;
  /**
   * Server CPU time per answered request (µs): the efficiency figure, steadier than req/s when other
   * work shares the machine.
   */
  cpuUsPerRequest: number;
  peakRssMiB: number;
  driverCpuPercent: number;
  rounds: number;
  /** Median over rounds, when the target reports it (fapi-gateway). */
  cacheHitPercent?: number;
  /** Medians over rounds, for targets keeping their state in Redis. */
  redisRoundTrips?: number;
  redisCpuUsPerRequest?: number;
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(rounds: RoundResult[]): Summary {
  const m = (pick: (r: RoundResult) => number) => Math.round(median(rounds.map(pick)) * 1000) / 1000;
  return {
    rps: Math.round(median(rounds.map((r) => r.rps))),
    p50: m((r) => r.latencyMs.p50),
    p99: m((r) => r.latencyMs.p99),
    p999: m((r) => r.latencyMs.p999),
    non2xx: rounds.reduce((s, r) => s + r.non2xx, 0),
    errors: rounds.reduce((s, r) => s + r.errors + r.timeouts, 0),
    cpuPercent: Math.round(median(rounds.map((r) => r.cpuPercent))),
    cpuUsPerRequest: Math.round(median(rounds.map((r) => (r.rps > 0 ? (r.cpuPercent * 1e4) / r.rps : 0)))),
    peakRssMiB: Math.max(0, ...rounds.map((r) => r.peakRssMiB)),
    driverCpuPercent: Math.round(median(rounds.map((r) => r.driverCpuPercent))),
    rounds: rounds.length,
    ...(rounds.every((r) => r.cacheHitPercent !== undefined)
      ? { cacheHitPercent: m((r) => r.cacheHitPercent!) }
      : {}),
    ...(rounds.length > 0 && rounds.every((r) => r.redisRoundTrips !== undefined)
      ? {
          redisRoundTrips: Math.round(median(rounds.map((r) => r.redisRoundTrips!)) * 100) / 100,
          redisCpuUsPerRequest: Math.round(
            median(rounds.map((r) => (r.rps > 0 ? ((r.redisCpuPercent ?? 0) * 1e4) / r.rps : 0))),
          ),
        }
      : {}),
  };
}

export interface TargetCheck {
  target: string;
  scenario: string;
  measured: string;
  required: string;
  met: boolean | null;
}

export interface Machine {
  cores: number;
  cpuModel: string;
  node: string;
  /** The Node that ran fapi-gateway (the bench's own unless --node was given). */
  gatewayNode?: string;
  nginx: string;
  haproxy: string;
  kernel: string;
  autocannon: string;
}

export interface ScenarioInfo {
  id: string;
  title: string;
}

export interface TargetInfo {
  id: string;
  label: string;
}

export interface BenchReport {
  date: string;
  mode: 'quick' | 'full';
  machine: Machine;
  settings: Record<string, unknown>;
  scenarios: ScenarioInfo[];
  targets: TargetInfo[];
  /** scenario id -> target id -> summary */
  summaries: Record<string, Record<string, Summary>>;
  rounds: Record<string, Record<string, RoundResult[]>>;
  unavailable: Record<string, string>;
  checks: TargetCheck[];
  soak?: unknown;
  notes: string[];
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const thousands = (n: number) => n.toLocaleString('en-US');

export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b ? Math.round((a / b) * 100) / 100 : undefined;
}

/**
 * The machine's load average over the run's rounds, when recorded: with 2 cores, anything much above the
 * bench's own 2 means other work took CPU from the targets and from the driver.
 */
export function loadLine(report: BenchReport): string[] {
  const values = Object.values(report.rounds)
    .flatMap((byTarget) => Object.values(byTarget).flat())
    .map((r) => r.loadAverage)
    .filter((v): v is number => v !== undefined);
  if (values.length === 0) return [];
  return [
    `1-minute load average at the end of the rounds: median ${median(values).toFixed(1)}, from ${Math.min(...values).toFixed(1)} to ${Math.max(...values).toFixed(1)} (the bench itself keeps about 2 busy; more is other work on the machine).`,
  ];
}

/**
 * With several connection counts: per count, the gateway's rate against HAProxy's and nginx's, and the CPU
 * per request and peak RSS of each (CPU µs/request is the figure a shared machine disturbs least).
 */
export function connectionSweep(report: BenchReport): string[] {
  const counts = report.settings.connectionCounts;
  if (!Array.isArray(counts) || counts.length < 2) return [];
  const lines = [
    '',
    '| Scenario | connections | fapi-gateway | / HAProxy req/s | / nginx req/s | CPU µs/req gateway / HAProxy / nginx | p99 ms at 50% and 80% of HAProxy max, gateway vs HAProxy | peak RSS MiB gateway / HAProxy |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const scenarioIds = ['a', 'b', 'b-cold', 'e'];
  const title = (id: string) => report.scenarios.find((x) => x.id === id)?.title ?? id;
  const label = (id: string) => report.targets.find((t) => t.id === id)?.label ?? id;
  for (const id of scenarioIds) {
    for (const [i, count] of (counts as number[]).entries()) {
      const suffix = i === 0 ? '' : `@${count}`;
      const byTarget = report.summaries[id + suffix];
      if (!byTarget) continue;
      const { haproxy, nginx } = byTarget;
      for (const gwId of ['gateway', 'gateway-dpop', 'gateway-compare']) {
        const gw = byTarget[gwId];
        if (!gw) continue;
        const r = (x: Summary | undefined) => (x ? `${fmt(ratio(gw.rps, x.rps) ?? NaN)}x` : 'n/a');
        const us = (x: Summary | undefined) => (x ? String(x.cpuUsPerRequest) : '-');
        const rss = (x: Summary | undefined) => (x ? fmt(x.peakRssMiB, 1) : '-');
        const p99 = (rateId: string) => {
          const at = report.summaries[rateId + suffix];
          return at?.[gwId] && at.haproxy ? `${fmt(at[gwId].p99)} vs ${fmt(at.haproxy.p99)}` : '-';
        };
        const latency = id === 'a' ? `${p99('a-half')}; ${p99('a-80')}` : '-';
        lines.push(
          `| ${title(id)} | ${count} | ${label(gwId)} | ${r(haproxy)} | ${r(nginx)} | ${us(gw)} / ${us(haproxy)} / ${us(nginx)} | ${latency} | ${rss(gw)} / ${rss(haproxy)} |`,
        );
      }
    }
  }
  return lines;
}

/** The scenario and targets of the issuer on its Redis store. */
export const REDIS_SCENARIO = 'i2-redis';
export const REDIS_TARGETS = ['issuer', 'issuer-redis', 'issuer-redis-2'] as const;

/**
 * The issuer's private_key_jwt scenario on its memory store, on Redis, and on two replicas sharing Redis:
 * tokens/s and their ratio to one replica on memory, latency, CPU per token (the issuer's processes, then
 * Redis's own), and Redis round trips per token request.
 */
export function redisStoreTable(report: BenchReport): string[] {
  const byTarget = report.summaries[REDIS_SCENARIO];
  if (!byTarget) return [];
  const memory = byTarget.issuer;
  const lines = [
    '',
    `${report.scenarios.find((x) => x.id === REDIS_SCENARIO)?.title ?? REDIS_SCENARIO}:`,
    '',
    '| Issuer | tokens/s | vs memory | p50 ms | p99 ms | CPU µs/token (issuer) | CPU µs/token (Redis) | Redis round trips/token |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const id of REDIS_TARGETS) {
    const s = byTarget[id];
    if (!s) continue;
    const label = report.targets.find((t) => t.id === id)?.label ?? id;
    const vs = ratio(s.rps, memory?.rps);
    lines.push(
      `| ${label} | ${thousands(s.rps)} | ${vs === undefined ? '-' : `${fmt(vs)}x`} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${s.cpuUsPerRequest} | ${s.redisCpuUsPerRequest ?? '-'} | ${s.redisRoundTrips ?? '-'} |`,
    );
  }
  return lines;
}

export function markdownTable(report: BenchReport): string {
  const m = report.machine;
  const lines: string[] = [];
  lines.push(
    `Measured ${report.date} (${report.mode} run: ${String(report.settings.rounds)} interleaved round(s) of ${String(report.settings.durationSeconds)} s per target and scenario, medians shown; ${String(report.settings.connections)} keep-alive connections unless stated${Number(report.settings.processWarmupSeconds) > 0 ? `; each Node forwarder, the gateway included, served ${String(report.settings.processWarmupSeconds)} s of (a) unmeasured after it started` : ''}).`,
    `Machine: ${m.cores} cores (${m.cpuModel}), Linux ${m.kernel}, Node ${m.node}${m.gatewayNode && m.gatewayNode !== m.node ? ` (fapi-gateway on Node ${m.gatewayNode})` : ''}, ${m.nginx}, ${m.haproxy}, autocannon ${m.autocannon}. ${String(report.settings.pinning)}${typeof report.settings.memoryLimit === 'string' ? ` ${report.settings.memoryLimit}` : ''}`,
    ...loadLine(report),
    '',
    '**Absolute numbers vary by machine and load: the ratios within one run are the result.**',
    '',
    '| Scenario | Target | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx / errors | server CPU % | CPU µs/req | peak RSS MiB |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const scenario of report.scenarios) {
    const byTarget = report.summaries[scenario.id] ?? {};
    for (const target of report.targets) {
      const s = byTarget[target.id];
      if (!s) continue;
      lines.push(
        `| ${scenario.title} | ${target.label} | ${thousands(s.rps)} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.p999)} | ${s.non2xx} / ${s.errors} | ${s.cpuPercent} | ${s.cpuUsPerRequest} | ${fmt(s.peakRssMiB, 1)} |`,
      );
    }
  }
  lines.push(...connectionSweep(report));
  lines.push(...redisStoreTable(report));
  if (Object.keys(report.unavailable).length > 0) {
    lines.push('', 'Not measured:');
    for (const [target, why] of Object.entries(report.unavailable)) lines.push(`- ${target}: ${why}`);
  }
  lines.push('', '| Objective | Scenario | Measured | Required | Met |', '| --- | --- | --- | --- | --- |');
  for (const c of report.checks) {
    lines.push(
      `| ${c.target} | ${c.scenario} | ${c.measured} | ${c.required} | ${c.met === null ? 'not measured' : c.met ? 'yes' : '**no**'} |`,
    );
  }
  if (report.notes.length > 0) {
    lines.push('');
    for (const note of report.notes) lines.push(`- ${note}`);
  }
  return lines.join('\n') + '\n';
}

/** Replaces the text between the bench markers of a page; returns undefined when the markers are missing. */
export function embedInPage(page: string, table: string): string | undefined {
  const start = '<!-- bench:table:start -->';
  const end = '<!-- bench:table:end -->';
  const i = page.indexOf(start);
  const j = page.indexOf(end);
  if (i < 0 || j < i) return undefined;
  return page.slice(0, i + start.length) + '\n\n' + table + '\n' + page.slice(j);
}
