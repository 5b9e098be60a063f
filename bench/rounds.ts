/**
 * Measuring: one run of the load driver (its own pinned process), the server's CPU and memory over the
 * driver's measured window, the gateway's cache counters around it, and the interleaved rounds (A B C, then
 * again with the order rotated) that every scenario is measured in.
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import type { LoadResult, LoadSpec } from './load.js';
import { here, log, type Options } from './options.js';
import { sampleUsage } from './proc-stats.js';
import { lastJsonLineOf, pinnedCommand } from './processes.js';
import { callsPerRequest, readsPerRequest } from './redis.js';
import { summarize, type RoundResult } from './report.js';
import type { ScenarioDef } from './scenarios.js';
import type { Started, TargetDef, TargetId } from './targets.js';

let formDriver: string | undefined;

/** The C driver for the one-form-per-request scenarios (bench/native.ts); undefined: the JavaScript one. */
export function setFormDriver(binary: string | undefined): void {
  formDriver = binary;
}

export async function runDriver(spec: LoadSpec, cores: string | undefined): Promise<LoadResult> {
  const script = path.join(here, 'load.js');
  const withDriver = spec.formsFile && formDriver ? { ...spec, formDriver } : spec;
  const [cmd, args] = pinnedCommand(cores, process.execPath, [script, JSON.stringify(withDriver)]);
  // Every run is bounded in time as well as in requests: a stuck target cannot hang the bench.
  return lastJsonLineOf<LoadResult>('load driver', cmd, args, (spec.durationSeconds + 30) * 1000);
}

interface CacheCounters {
  /** JWT verification cache hits. */
  tokenHits: number;
  /** Introspection answers taken from the cache (positive or negative). */
  introspectionHits: number;
  requests: number;
}

/** The gateway's cache hits and requests so far, from its admin /metrics (aggregated over workers). */
async function cacheCounters(adminUrl: string): Promise<CacheCounters | undefined> {
  try {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const counters: CacheCounters = { tokenHits: 0, introspectionHits: 0, requests: 0 };
    for (const line of text.split('\n')) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.startsWith('fapi_gateway_token_cache_hits_total')) counters.tokenHits += value;
      else if (/^fapi_gateway_introspection_cache_total\{result="(?:hit|negative_hit)"/.test(line))
        counters.introspectionHits += value;
      else if (line.startsWith('fapi_gateway_requests_total{')) counters.requests += value;
    }
    return counters;
  } catch {
    return undefined;
  }
}

/** % of the window's requests answered from the cache the target verifies its tokens with. */
function cacheHitPercent(
  id: TargetId,
  before: CacheCounters | undefined,
  after: CacheCounters | undefined,
): number | undefined {
  if (!before || !after || after.requests <= before.requests) return undefined;
  const hits =
    id === 'gateway-introspection'
      ? after.introspectionHits - before.introspectionHits
      : after.tokenHits - before.tokenHits;
  return Math.round((hits / (after.requests - before.requests)) * 1000) / 10;
}

export type Rounds = Record<string, Record<string, RoundResult[]>>;

/** The fixed rates at which latency is compared: a fraction of HAProxy's maximum, its id and its words. */
export const RATE_FRACTIONS: readonly (readonly [number, string, string])[] = [
  [0.5, 'half', 'half'],
  [0.8, '80', '80% of'],
];

export interface RoundRunner {
  rounds: Rounds;
  /** Every scenario in turn: a warm-up per target (in --quick, the first round's lead-in), then interleaved rounds. */
  runScenario(scenario: ScenarioDef, targets: TargetDef[]): Promise<void>;
  /**
   * (a) at half and at 80% of HAProxy's maximum rate, for each connection count (`a-half`, `a-80`, then
   * `a-half@N`, `a-80@N`): HAProxy and the gateways in turn. Only those measured are returned.
   */
  runRateScenarios(targets: Map<TargetId, TargetDef>): Promise<ScenarioDef[]>;
}

export function roundRunner(
  opts: Options,
  driverCores: string | undefined,
  started: Map<TargetId, Started>,
  baseSpec: (def: TargetDef, url: string) => LoadSpec,
): RoundRunner {
  const rounds: Rounds = {};
  /** The rate each target served last in each scenario: what a scenario's prepared requests are sized for. */
  const lastRps = new Map<string, number>();

  const specFor = async (scenario: ScenarioDef, def: TargetDef, round: number, durationSeconds?: number) => {
    const target = started.get(def.id)!;
    const base = baseSpec(def, target.url);
    let spec = scenario.spec(target.urls ? { ...base, urls: target.urls } : base, round, def.id);
    if (durationSeconds !== undefined) spec = { ...spec, durationSeconds };
    if (scenario.prepare) {
      const t0 = Date.now();
      spec = {
        ...spec,
        ...(await scenario.prepare(spec, lastRps.get(`${scenario.id}/${def.id}`) ?? 0, def.id)),
      };
      log(`${scenario.id} ${def.id}: requests prepared in ${Date.now() - t0} ms`);
    }
    return spec;
  };

  const measure = async (scenario: ScenarioDef, def: TargetDef, round: number, spec: LoadSpec) => {
    const target = started.get(def.id)!;
    const running = runDriver(spec, driverCores);
    // Server usage is sampled over the driver's measured window only.
    await new Promise((r) => setTimeout(r, (spec.settleSeconds ?? 0) * 1000));
    const usage = sampleUsage(target.pids ?? target.running.pid);
    const before = target.adminUrl ? await cacheCounters(target.adminUrl) : undefined;
    // Redis commands and the token requests they served, read back to back at both ends of the window.
    const redisUsage = target.redis && sampleUsage(target.redis.pid);
    const redisBefore = target.redis && {
      calls: await target.redis.calls(),
      reads: await target.redis.reads(),
      requests: await target.redis.tokenRequests(),
    };
    const result = await running;
    const stats = usage.stop();
    const redisStats = redisUsage?.stop();
    const redisAfter = target.redis && {
      calls: await target.redis.calls(),
      reads: await target.redis.reads(),
      requests: await target.redis.tokenRequests(),
    };
    const after = target.adminUrl ? await cacheCounters(target.adminUrl) : undefined;
    const hits = cacheHitPercent(def.id, before, after);
    const redis =
      redisBefore && redisAfter && redisStats
        ? {
            ...callsPerRequest(
              redisBefore.calls,
              redisAfter.calls,
              redisAfter.requests - redisBefore.requests,
            ),
            cpuPercent: redisStats.cpuPercent,
            // Less the two INFO reads of the counters themselves inside the window.
            readsPerRequest: readsPerRequest(
              redisAfter.reads - redisBefore.reads - 2,
              redisAfter.requests - redisBefore.requests,
            ),
          }
        : undefined;
    lastRps.set(`${scenario.id}/${def.id}`, result.rps);
    ((rounds[scenario.id] ??= {})[def.id] ??= []).push({
      round,
      ...result,
      ...stats,
      cacheHitPercent: hits,
      loadAverage: Math.round(loadavg()[0]! * 10) / 10,
      ...(redis
        ? {
            redisRoundTrips: redis.total,
            redisCommands: redis.byCommand,
            redisCpuPercent: redis.cpuPercent,
            redisReadsPerRequest: redis.readsPerRequest,
          }
        : {}),
    });
    log(
      `${scenario.id} r${round + 1} ${def.id}: ${result.rps} req/s p99 ${result.latencyMs.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}, server CPU ${stats.cpuPercent}%, driver CPU ${result.driverCpuPercent}%${hits === undefined ? '' : `, cache hits ${hits}%`}${redis ? `, Redis ${redis.total} commands/request ${JSON.stringify(redis.byCommand)} in ${redis.readsPerRequest} reads/request, Redis CPU ${redis.cpuPercent}%` : ''}`,
    );
  };

  return {
    rounds,
    async runScenario(scenario, targets) {
      const warmupSeconds = opts.quick
        ? opts.warmupSeconds
        : Math.max(opts.warmupSeconds, scenario.minWarmupSeconds ?? 0);
      const warms = opts.warmupSeconds > 0 && !scenario.noWarmup;
      // In --quick the warm-up is the unmeasured lead-in of the first round on the same connections: one
      // driver start per target instead of two. A scenario that sizes its prepared requests by the rate
      // of the warm-up keeps a warm-up run of its own.
      const leadIn = warms && opts.quick && scenario.prepare === undefined ? warmupSeconds : 0;
      for (const def of warms && leadIn === 0 ? targets : []) {
        const warm = await runDriver(await specFor(scenario, def, opts.rounds, warmupSeconds), driverCores);
        lastRps.set(`${scenario.id}/${def.id}`, warm.rps);
      }
      for (let round = 0; round < opts.rounds; round++) {
        // Rotating the order each round keeps any drift (thermal, neighbours) from favouring one target.
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const def of order) {
          const spec = await specFor(scenario, def, round);
          const settleSeconds = (spec.settleSeconds ?? 0) + (round === 0 ? leadIn : 0);
          await measure(scenario, def, round, { ...spec, settleSeconds });
        }
      }
    },
    async runRateScenarios(targets) {
      const measured: ScenarioDef[] = [];
      const gateways = (['gateway', 'gateway-compare'] as const).filter((id) => started.has(id));
      if (gateways.length === 0) return measured;
      for (const [i, connections] of opts.connectionCounts.entries()) {
        const suffix = i === 0 ? '' : `@${connections}`;
        const haproxyA = rounds[`a${suffix}`]?.haproxy;
        const maxRate = haproxyA ? summarize(haproxyA).rps : 0;
        if (maxRate <= 0) continue;
        // --quick measures the half rate only (it is indicative, and has two minutes for everything).
        for (const [fraction, name, words] of opts.quick ? RATE_FRACTIONS.slice(0, 1) : RATE_FRACTIONS) {
          const rate = Math.round(maxRate * fraction);
          const scenario: ScenarioDef = {
            id: `a-${name}${suffix}`,
            title: `(a) at ${rate} req/s (${words} HAProxy's max)${suffix ? `, ${connections} connections` : ''}`,
            targets: ['haproxy', ...gateways],
            spec: (b) => ({ ...b, connections, rate }),
          };
          const ids = ['haproxy', ...gateways] as TargetId[];
          for (let round = 0; round < opts.rounds; round++) {
            // Rotating the order each round keeps any drift from favouring one target.
            for (const id of ids.map((_, k) => ids[(k + round) % ids.length]!)) {
              const def = targets.get(id)!;
              await measure(scenario, def, round, await specFor(scenario, def, round));
            }
          }
          measured.push(scenario);
        }
      }
      return measured;
    },
  };
}
