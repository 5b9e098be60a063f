/**
 * The hostile soak (`--hostile-soak`): a gateway (with its upstream) and an issuer, each its own process,
 * under a steady mix of good and hostile traffic for N minutes (hostile-traffic.ts). It checks the three
 * things a long bad day must not break: memory stays flat (RSS from /proc every 30 s, after a warm-up
 * of two minutes), nothing fails that is not a refusal (no 5xx but counted 503s, no crash, no good request lost),
 * and every refusal the driver saw is counted in the servers' own /metrics.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { metricValue } from '../test/helpers/metrics-text.js';
import {
  connectionFlood,
  createTraffic,
  poolConnections,
  silentConnections,
  SOAK_LIFETIME_SECONDS,
  type Action,
  type Observation,
  type ServerName,
} from './hostile-traffic.js';
import type { IssuerFixture } from './issuers.js';
import {
  BENCHMARKS_PAGE,
  log,
  nodeVersion,
  RESULTS,
  root,
  type CoreLayout,
  type Options,
} from './options.js';
import { processTree } from './proc-stats.js';
import type { Started } from './targets.js';

/** Both servers' connection cap in the soak: low enough that a flood reaches it in a blink. */
export const SOAK_CONNECTION_CAP = 1024;
const SILENT_CONNECTIONS: Record<ServerName, number> = { gateway: 24, issuer: 8 };
const DISTINCT_TOKENS = 20_000;
const MAX_IN_FLIGHT = 48;
/** More than the gateway's default tokens.cacheMaxEntries (10,000). */
const CACHE_FILL = 12_000;

interface ActionCounts {
  server: ServerName;
  good: boolean;
  attempts: number;
  outcomes: Record<string, number>;
}

interface ServerResult {
  rssMiB: { start: number; max: number; min: number; end: number };
  /** (max - min) / min over the samples after the warm-up, in %. */
  flatPercent: number;
  requests: { good: number; hostile: number };
  refusals: {
    /** HTTP answers >= 400 the driver received. */
    httpObserved: number;
    /** The server's own count of them (sum of its rejection/refusal counter). */
    httpCounted: number;
    /** Connections refused at the TLS layer or over the cap, as the driver saw them. */
    connectionObserved: number;
    connectionCounted: number;
    /** Per reason, the counters' increase. */
    countedByReason: Record<string, number>;
  };
  errors: string[];
  exitedDuringSoak: boolean;
}

export interface HostileSoakResult {
  date: string;
  node: string;
  minutes: number;
  warmupSeconds: number;
  ratePerSecond: number;
  connectionCap: number;
  loadAverage: { start: number[]; end: number[] };
  actions: Record<string, ActionCounts>;
  rssSeries: { seconds: number; gatewayMiB: number; issuerMiB: number }[];
  gateway: ServerResult;
  issuer: ServerResult;
  notes: string[];
}

function rssMiB(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      sum += m ? Number(m[1]) / 1024 : 0;
    } catch {
      // exited
    }
  }
  return Math.round(sum * 10) / 10;
}

async function scrape(adminUrl: string): Promise<string> {
  return (await fetch(`${adminUrl}/metrics`)).text();
}

/** Every sample of `name` by its `reason` (or `listener`/`reason`) label, for deltas. */
function byLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([0-9.e+]+)$`, 'gm'))) {
    const value = new RegExp(`${label}="([^"]*)"`).exec(m[1]!)?.[1] ?? '';
    out[value] = (out[value] ?? 0) + Number(m[2]);
  }
  return out;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

function outcomeKey(o: Observation): string {
  return 'status' in o ? String(o.status) : o.connection;
}

export async function runHostileSoak(
  f: IssuerFixture,
  gateway: Started,
  issuer: Started,
  opts: Options,
  layout: CoreLayout,
): Promise<HostileSoakResult> {
  if (!gateway.adminUrl || !issuer.adminUrl || !issuer.publicUrl)
    throw new Error('the hostile soak needs both servers with their admin listeners');
  // The driver runs in this process: off the servers' cores.
  if (layout.pin && layout.driver)
    execFileSync('taskset', ['-pc', layout.driver, String(process.pid)], { stdio: 'ignore' });
  const totalSeconds = Math.round(opts.soakMinutes * 60);
  // Two of the longest lifetime of the issuer's state (SOAK_LIFETIME_SECONDS): one for it to fill up to
  // its steady size, one for the memory store's sweep (every 60 s) to start dropping what expired.
  const warmupSeconds = Math.min(2 * SOAK_LIFETIME_SECONDS, Math.round(totalSeconds * 0.2));
  const sampleSeconds = Math.min(30, Math.max(2, Math.round(totalSeconds / 12)));
  const gatewayPort = Number(new URL(gateway.url).port);
  const issuerMtls = new URL(issuer.url);
  const issuerPublic = new URL(issuer.publicUrl);
  const traffic = await createTraffic(
    f.pki,
    f,
    {
      gateway: { url: gateway.url, port: gatewayPort },
      issuer: {
        mtlsBase: issuerMtls.origin,
        mtlsPort: Number(issuerMtls.port),
        publicBase: issuerPublic.origin,
        publicPort: Number(issuerPublic.port),
      },
    },
    DISTINCT_TOKENS,
  );

  const actions: Record<string, ActionCounts> = {};
  const errors: Record<ServerName, string[]> = { gateway: [], issuer: [] };
  // When a flood held each server at its connection cap: from its first connection until a second after
  // the driver closed them (the server sees the closes and frees its slots).
  const capHeld: Record<ServerName, { from: number; to: number }[]> = { gateway: [], issuer: [] };
  const atCap = (server: ServerName, t: number) => capHeld[server].some((w) => t >= w.from && t <= w.to);
  const refusedAtCap: Record<ServerName, number> = { gateway: 0, issuer: 0 };
  const record = (a: Pick<Action, 'name' | 'server' | 'good'>, observed: Observation[]) => {
    const counts = (actions[a.name] ??= { server: a.server, good: a.good, attempts: 0, outcomes: {} });
    counts.attempts++;
    // A pool's new connection that the server closed before its handshake while a flood held it at its
    // cap: the cap refused it (net.Server drops it on accept and counts it in *_connections_refused_total),
    // which is what the cap is for, not an error. A reset of an established connection stays an error.
    const seen = observed.map((o): Observation => {
      if (
        !('connection' in o) ||
        o.newConnectionFailedAt === undefined ||
        (o.connection !== 'reset' && o.connection !== 'tls_refused') ||
        !atCap(a.server, o.newConnectionFailedAt)
      )
        return o;
      refusedAtCap[a.server]++;
      return { connection: 'refused_at_cap', detail: o.detail };
    });
    for (const o of seen) {
      const key = outcomeKey(o);
      counts.outcomes[key] = (counts.outcomes[key] ?? 0) + 1;
      const problem =
        'status' in o
          ? o.status >= 500 && o.status !== 503
            ? `${o.status}`
            : a.good && o.status >= 400
              ? `${o.status} to good traffic`
              : undefined
          : o.connection === 'timeout' ||
              o.connection === 'error' ||
              (a.good && o.connection !== 'abandoned' && o.connection !== 'refused_at_cap')
            ? `${o.connection}${o.detail ? ` (${o.detail})` : ''}`
            : undefined;
      if (problem !== undefined && errors[a.server].length < 200)
        errors[a.server].push(`${a.name}: ${problem}`);
    }
  };

  const before = { gateway: await scrape(gateway.adminUrl), issuer: await scrape(issuer.adminUrl) };
  // The gateway's verified-token cache filled first (more distinct tokens than it holds): the soak then
  // measures a gateway whose cache is at its cap, as after a long day, not one still growing into it.
  const fill = traffic.actions.find((a) => a.good && a.server === 'gateway' && a.name.includes('GET'))!;
  log(
    `hostile soak: filling the gateway's token cache with ${CACHE_FILL.toLocaleString('en')} distinct tokens`,
  );
  let filled = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (filled++ < CACHE_FILL) record(fill, await fill.run());
    }),
  );
  const loadStart = loadavg().map((l) => Math.round(l * 100) / 100);
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const rssSeries: HostileSoakResult['rssSeries'] = [];
  const sample = () =>
    rssSeries.push({
      seconds: Math.round(elapsed()),
      gatewayMiB: rssMiB(gateway.running.pid),
      issuerMiB: rssMiB(issuer.running.pid),
    });
  sample();
  const sampler = setInterval(() => {
    sample();
    const s = rssSeries.at(-1)!;
    log(`hostile soak: ${s.seconds} s, RSS gateway ${s.gatewayMiB} MiB, issuer ${s.issuerMiB} MiB`);
  }, sampleSeconds * 1000);

  const silent = (['gateway', 'issuer'] as const).map((server) =>
    silentConnections(
      server === 'gateway' ? gatewayPort : Number(issuerMtls.port),
      SILENT_CONNECTIONS[server],
      (o) => record({ name: `connection without a ClientHello (${server})`, server, good: false }, [o]),
    ),
  );

  // Floods: three per server in the warm-up, then one a minute, alternating servers: the baseline is
  // taken from servers that have already met floods at their cap, and each later flood shows whether it
  // leaves memory behind (a connection closed before its ClientHello must cost no TLS state:
  // src/tls/connection-guard.ts).
  const floodAt = [0.1, 0.25, 0.4, 0.55, 0.7, 0.85].map((x) => warmupSeconds * x);
  for (let t = warmupSeconds + 60; t < totalSeconds - 10; t += 60) floodAt.push(t);
  const floods = floodAt.map((t, i) =>
    setTimeout(
      () => {
        const server: ServerName = i % 2 === 0 ? 'gateway' : 'issuer';
        const port = server === 'gateway' ? gatewayPort : Number(issuerMtls.port);
        const window = { from: Date.now(), to: Infinity };
        capHeld[server].push(window);
        void connectionFlood(port, SOAK_CONNECTION_CAP + 32, 5000).then((seen) => {
          window.to = Date.now() + 1000;
          record({ name: `connection flood to the cap (${server})`, server, good: false }, seen);
        });
      },
      Math.round(t * 1000),
    ),
  );

  // The mix: a steady rate of actions, chosen by weight, at most MAX_IN_FLIGHT at once.
  const weights = traffic.actions.map((a) => a.weight);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const choose = () => {
    let r = Math.random() * totalWeight;
    for (const a of traffic.actions) if ((r -= a.weight) < 0) return a;
    return traffic.actions.at(-1)!;
  };
  let inFlight = 0;
  let skipped = 0;
  let credit = 0;
  const running = new Set<Promise<void>>();
  log(
    `hostile soak: ${opts.soakMinutes} min at ${opts.soakRate} actions/s (warm-up ${warmupSeconds} s, RSS every ${sampleSeconds} s)`,
  );
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      if (elapsed() >= totalSeconds) {
        clearInterval(tick);
        resolve();
        return;
      }
      credit += opts.soakRate / 20;
      for (; credit >= 1; credit--) {
        if (inFlight >= MAX_IN_FLIGHT) {
          skipped++;
          continue;
        }
        const a = choose();
        inFlight++;
        const p: Promise<void> = a
          .run()
          .then((seen) => record(a, seen))
          .finally(() => {
            inFlight--;
            running.delete(p);
          });
        running.add(p);
      }
    }, 50);
  });
  for (const t of floods) clearTimeout(t);
  await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 20_000))]);
  clearInterval(sampler);
  sample();
  for (const s of silent) s.stop();
  await traffic.close();
  // Counters of the connections just closed settle within a tick; give them a moment on a loaded box.
  await new Promise((r) => setTimeout(r, 2000));
  const after = { gateway: await scrape(gateway.adminUrl), issuer: await scrape(issuer.adminUrl) };
  const loadEnd = loadavg().map((l) => Math.round(l * 100) / 100);

  const serverResult = (server: ServerName): ServerResult => {
    const series = rssSeries.map((s) => (server === 'gateway' ? s.gatewayMiB : s.issuerMiB));
    const steady = rssSeries
      .filter((s) => s.seconds >= warmupSeconds)
      .map((s) => (server === 'gateway' ? s.gatewayMiB : s.issuerMiB));
    const min = Math.min(...steady);
    const max = Math.max(...steady);
    let httpObserved = 0;
    let connectionObserved = 0;
    const requests = { good: 0, hostile: 0 };
    for (const a of Object.values(actions)) {
      if (a.server !== server) continue;
      for (const [key, n] of Object.entries(a.outcomes)) {
        if (/^\d+$/.test(key)) {
          requests[a.good ? 'good' : 'hostile'] += n;
          if (Number(key) >= 400) httpObserved += n;
        } else if (key === 'tls_refused' || key === 'server_closed' || key === 'refused_at_cap')
          connectionObserved += n;
      }
    }
    const prefix = server === 'gateway' ? 'fapi_gateway' : 'fapi_issuer';
    const refusalMetric =
      server === 'gateway' ? 'fapi_gateway_rejections_total' : 'fapi_issuer_refusals_total';
    const refusals = delta(
      byLabel(before[server], refusalMetric, 'reason'),
      byLabel(after[server], refusalMetric, 'reason'),
    );
    const handshakes = delta(
      byLabel(before[server], `${prefix}_tls_handshake_failures_total`, 'reason'),
      byLabel(after[server], `${prefix}_tls_handshake_failures_total`, 'reason'),
    );
    const refusedConnections =
      (metricValue(after[server], `${prefix}_connections_refused_total`) ?? 0) -
      (metricValue(before[server], `${prefix}_connections_refused_total`) ?? 0);
    const countedByReason: Record<string, number> = {
      ...refusals,
      ...Object.fromEntries(Object.entries(handshakes).map(([k, v]) => [`tls:${k}`, v])),
      ...(refusedConnections ? { connections_refused: refusedConnections } : {}),
    };
    const running = server === 'gateway' ? gateway.running : issuer.running;
    // Refusals at the cap the server did not count would be connections it dropped for another reason.
    if (refusedAtCap[server] > refusedConnections)
      errors[server].push(
        `${refusedAtCap[server]} new connections closed during floods, only ${refusedConnections} counted as refused at the cap`,
      );
    return {
      rssMiB: { start: series[0]!, max, min, end: series.at(-1)! },
      flatPercent: Math.round(((max - min) / min) * 1000) / 10,
      requests,
      refusals: {
        httpObserved,
        httpCounted: sum(refusals),
        connectionObserved,
        // A connection the driver itself closed before its handshake counts as `other`: not a refusal.
        connectionCounted: sum(handshakes) - (handshakes.other ?? 0) + refusedConnections,
        countedByReason,
      },
      errors: [...new Set(errors[server])],
      exitedDuringSoak: running.child.exitCode !== null || running.child.signalCode !== null,
    };
  };

  const result: HostileSoakResult = {
    date: new Date().toISOString(),
    node: `v${nodeVersion(opts.gatewayNode)}`,
    minutes: opts.soakMinutes,
    warmupSeconds,
    ratePerSecond: opts.soakRate,
    connectionCap: SOAK_CONNECTION_CAP,
    loadAverage: { start: loadStart, end: loadEnd },
    actions,
    rssSeries,
    gateway: serverResult('gateway'),
    issuer: serverResult('issuer'),
    notes: [
      ...(skipped > 0 ? [`${skipped} actions skipped: ${MAX_IN_FLIGHT} already in flight`] : []),
      `the pools opened ${poolConnections.opened} connections and ${poolConnections.failed} failed before they were established; new connections (pools and raw exchanges) refused at the cap during floods: gateway ${refusedAtCap.gateway}, issuer ${refusedAtCap.issuer}`,
    ],
  };
  return result;
}

/** bench/results/hostile-soak-node<major>.json, and the table of every such file in docs/benchmarks.md. */
export function publishHostileSoak(result: HostileSoakResult, updateDocs: boolean): string {
  mkdirSync(RESULTS, { recursive: true });
  const major = result.node.replace(/^v/, '').split('.')[0];
  const name = `hostile-soak-node${major}${result.minutes < 10 ? '-short' : ''}.json`;
  writeFileSync(path.join(RESULTS, name), JSON.stringify(result, null, 2) + '\n');
  const table = hostileSoakTable();
  if (updateDocs && result.minutes >= 10) {
    const page = path.join(root, BENCHMARKS_PAGE);
    const text = readFileSync(page, 'utf8');
    const start = '<!-- hostile-soak:start -->';
    const end = '<!-- hostile-soak:end -->';
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from === -1 || to < from) log(`${BENCHMARKS_PAGE} has no hostile-soak markers; table not embedded`);
    else writeFileSync(page, `${text.slice(0, from + start.length)}\n${table}${text.slice(to)}`);
  }
  return name;
}

/**
 * Growth after the warm-up: the highest RSS of the last third of the samples against the highest of the
 * first third, in %. A leak grows it; a garbage collection that returns memory (which widens max - min)
 * does not.
 */
export function rssGrowthPercent(r: HostileSoakResult, server: ServerName): number {
  const steady = r.rssSeries
    .filter((s) => s.seconds >= r.warmupSeconds)
    .map((s) => (server === 'gateway' ? s.gatewayMiB : s.issuerMiB));
  const third = Math.max(1, Math.floor(steady.length / 3));
  const first = Math.max(...steady.slice(0, third));
  const last = Math.max(...steady.slice(-third));
  return Math.round(((last - first) / first) * 1000) / 10;
}

/**
 * Rise after the warm-up: the highest RSS against the first sample after the warm-up, in %. Unlike
 * (max - min) / min, RSS that V8 gives back (a lower minimum) does not count as growth.
 */
export function rssRisePercent(r: HostileSoakResult, server: ServerName): number {
  const steady = r.rssSeries
    .filter((s) => s.seconds >= r.warmupSeconds)
    .map((s) => (server === 'gateway' ? s.gatewayMiB : s.issuerMiB));
  const first = steady[0]!;
  return Math.round(((Math.max(...steady) - first) / first) * 1000) / 10;
}

const signed = (n: number) => `${n >= 0 ? '+' : ''}${n}`;

/** One row per server and full (10-minute or longer) run on record. */
export function hostileSoakTable(): string {
  const runs = readdirSync(RESULTS)
    .filter((n) => /^hostile-soak-node\d+\.json$/.test(n))
    .map((n) => JSON.parse(readFileSync(path.join(RESULTS, n), 'utf8')) as HostileSoakResult)
    .sort((a, b) => a.node.localeCompare(b.node, undefined, { numeric: true }));
  const rows = runs.flatMap((r) =>
    (['gateway', 'issuer'] as const).map((server) => {
      const s = r[server];
      return `| ${server} | ${r.node} | ${r.minutes} | ${s.requests.good.toLocaleString('en')} / ${s.requests.hostile.toLocaleString('en')} | ${s.rssMiB.start} / ${s.rssMiB.max} / ${s.rssMiB.end} | ${signed(rssRisePercent(r, server))} % | ${s.flatPercent} % | ${signed(rssGrowthPercent(r, server))} % | ${s.refusals.httpObserved.toLocaleString('en')} / ${s.refusals.httpCounted.toLocaleString('en')} | ${s.refusals.connectionObserved.toLocaleString('en')} / ${s.refusals.connectionCounted.toLocaleString('en')} | ${s.errors.length === 0 && !s.exitedDuringSoak ? 'none' : `${s.exitedDuringSoak ? 'exited; ' : ''}${s.errors.length}`} | ${r.loadAverage.start[0]} → ${r.loadAverage.end[0]} |`;
    }),
  );
  return [
    '| server | Node | minutes | requests good / hostile | RSS MiB start / max / end | after the warm-up: highest RSS against the first | (max - min) / min | growth, last third against first | HTTP refusals seen / counted | connection refusals seen / counted | errors that are not refusals | load average (1 min) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
