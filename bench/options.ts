/**
 * What one bench run does: its command-line options (with the defaults a full and a `--quick` run use),
 * where it writes, and how it lays the processes out over the cores.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { hasCommand } from './processes.js';

/** This folder once compiled: dist/bench/bench/. */
export const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const root = path.resolve(here, '..', '..', '..');
export const RESULTS = path.join(root, 'bench', 'results');
/** The page that publishes the latest full run (between its bench markers). */
export const BENCHMARKS_PAGE = 'docs/benchmarks.md';
export const ROUTE = '/accounts';

export interface Options {
  quick: boolean;
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  /**
   * Load on each Node forwarding target right after it starts, before any scenario, in full runs: the
   * JIT compiles the request path over the first tens of thousands of requests.
   */
  processWarmupSeconds: number;
  connections: number;
  /**
   * Every connection count measured (`--connections=16,50,256`, or `--sweep` for those three): the first
   * is `connections`; each other one repeats the scenarios as `<id>@<count>`.
   */
  connectionCounts: number[];
  scenarios: string[] | undefined;
  targets: string[] | undefined;
  soak: boolean;
  soakMinutes: number;
  /** Only the memory soak (1M requests over 100k tokens, then N minutes): bench/results/soak.json. */
  soakOnly: boolean;
  soakRequests: number;
  /**
   * The hostile soak (`--hostile-soak`): a gateway and an issuer process at once under good and hostile
   * traffic for `soakMinutes` (default 10): bench/results/hostile-soak*.json.
   */
  hostileSoak: boolean;
  /** Actions per second of the hostile soak's driver (good and hostile together). */
  soakRate: number;
  /** Embed the table in docs/benchmarks.md (full, unfiltered runs; `--no-docs` turns it off). */
  updateDocs: boolean;
  nice: number;
  /** Run the gateway under `node --cpu-prof` and write the top functions to bench/results/profile-*.txt. */
  profile: boolean;
  /** The gateway CLI to measure (default: this checkout's dist/cli/main.js). */
  gatewayCli: string;
  /** A second gateway build measured alongside (A/B of a change), as target `gateway-compare`. */
  compareCli: string | undefined;
  /** Another Node binary running the gateway alongside (e.g. Node 20 against 24), as `gateway-compare`. */
  compareNode: string | undefined;
  /** The Node binary that runs fapi-gateway (default: the one running the bench). */
  gatewayNode: string;
  /** V8/Node flags for fapi-gateway (default: the container image's, from the Dockerfile ENTRYPOINT). */
  gatewayNodeFlags: string[];
  /** Flags for gateway-compare instead (A/B of a runtime setting). */
  compareNodeFlags: string[] | undefined;
  /** The pod memory limit the gateway runs under (default: the Helm chart's), 0 for none. */
  memoryLimitMiB: number;
}

export function parseOptions(argv: string[]): Options {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const quick = flag('quick');
  const connectionCounts = (value('connections') ?? (flag('sweep') ? '50,16,256' : '50'))
    .split(',')
    .map(Number);
  if (connectionCounts.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error(
      `--connections: a comma-separated list of connection counts (got ${value('connections')})`,
    );
  return {
    quick,
    // Five shorter rounds rather than three longer ones: on a shared VM a target's rate drifts between
    // rounds by up to a third, and the median of five resists one bad round.
    rounds: Number(value('rounds') ?? (quick ? 1 : 5)),
    durationSeconds: Number(value('duration') ?? (quick ? 1.2 : 3)),
    // Half a second of unmeasured load per target in --quick: without it a just-started Node process is
    // measured before its JIT has compiled the request path (0.8x HAProxy cold against 1.5x warm).
    warmupSeconds: Number(value('warmup') ?? (quick ? 0.5 : 1)),
    processWarmupSeconds: Number(value('process-warmup') ?? (quick ? 0 : 8)),
    connections: connectionCounts[0]!,
    connectionCounts,
    scenarios: value('scenarios')?.split(','),
    targets: value('targets')?.split(','),
    soak: flag('soak') || flag('soak-only'),
    soakOnly: flag('soak-only'),
    soakMinutes: Number(value('soak-minutes') ?? (flag('hostile-soak') ? 10 : 5)),
    soakRequests: Number(value('soak-requests') ?? 1_000_000),
    hostileSoak: flag('hostile-soak'),
    soakRate: Number(value('soak-rate') ?? 150),
    nice: Number(value('nice') ?? 0),
    profile: flag('profile'),
    gatewayCli: path.resolve(value('gateway') ?? path.join(root, 'dist', 'cli', 'main.js')),
    compareCli: value('compare') && path.resolve(value('compare')!),
    compareNode: value('compare-node') && path.resolve(value('compare-node')!),
    gatewayNode: value('node') ? path.resolve(value('node')!) : process.execPath,
    gatewayNodeFlags: value('node-flags') !== undefined ? splitFlags(value('node-flags')!) : imageNodeFlags(),
    memoryLimitMiB:
      value('memory-limit') !== undefined ? Number(value('memory-limit')) : chartMemoryLimitMiB(),
    compareNodeFlags:
      value('compare-node-flags') !== undefined ? splitFlags(value('compare-node-flags')!) : undefined,
    updateDocs:
      !quick && !flag('no-docs') && value('scenarios') === undefined && value('targets') === undefined,
  };
}

export interface CoreLayout {
  cores: number;
  pin: boolean;
  /** Cores of the load driver (taskset list). */
  driver: string | undefined;
  /** Cores of the upstream, the stub authorization server and each server under test. */
  servers: string | undefined;
  all: string | undefined;
  serverCoreCount: number;
}

/** Driver on core 0, servers on the rest; every proxy gets the same server cores. */
export function coreLayout(): CoreLayout {
  const cores = availableParallelism();
  const pin = hasCommand('taskset') && cores >= 2;
  return {
    cores,
    pin,
    driver: pin ? '0' : undefined,
    servers: pin ? (cores === 2 ? '1' : `1-${cores - 1}`) : undefined,
    all: pin ? `0-${cores - 1}` : undefined,
    serverCoreCount: pin ? cores - 1 : cores,
  };
}

/**
 * The flags the container image starts the gateway with (the Dockerfile's ENTRYPOINT, between `node` and
 * the CLI): the bench runs the gateway the way production does.
 */
function imageNodeFlags(): string[] {
  const m = /^ENTRYPOINT (\[.*\])\s*$/m.exec(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
  if (!m) throw new Error('Dockerfile: no ENTRYPOINT in exec form');
  const argv = JSON.parse(m[1]!) as string[];
  const from = argv.indexOf('node');
  const to = argv.findIndex((a) => a.endsWith('/dist/cli/main.js'));
  if (from === -1 || to < from)
    throw new Error('Dockerfile: ENTRYPOINT does not run node .../dist/cli/main.js');
  return argv.slice(from + 1, to);
}

/** The Helm chart's default `resources.limits.memory`, in MiB (0 when it sets none). */
function chartMemoryLimitMiB(): number {
  const values = parseYaml(
    readFileSync(path.join(root, 'charts', 'fapi-gateway', 'values.yaml'), 'utf8'),
  ) as {
    resources?: { limits?: { memory?: string } };
  };
  const limit = values.resources?.limits?.memory;
  if (limit === undefined) return 0;
  const m = /^(\d+)(Mi|Gi)$/.exec(limit);
  if (!m)
    throw new Error(`charts/fapi-gateway/values.yaml: resources.limits.memory ${limit} is not in Mi or Gi`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

function splitFlags(text: string): string[] {
  return text.split(/[\s,]+/).filter((f) => f !== '');
}

export function nodeVersion(binary: string): string {
  try {
    return spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '') || binary;
  } catch {
    return binary;
  }
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
