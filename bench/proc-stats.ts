/**
 * CPU and memory of a server under test, read from /proc for the whole process tree (nginx's and the
 * gateway's workers included): CPU as % of one core over the measured window, peak resident memory of the
 * tree and RSS of its largest single process, sampled every 100 ms.
 *
 * The tree's figure counts pages its processes share once: the largest process's RSS plus the private
 * pages of the others. A plain sum of RSS counts the executable's pages (~34 MiB of Node's own code,
 * shared clean) once per process: a Node 20 gateway under a memory limit runs as a small launcher and
 * the gateway itself (src/cli/v8-heap.ts), whose launcher keeps ~6 MiB private. A memory cgroup, as in
 * a pod, charges such shared pages once as well.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after its closing parenthesis are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Private (unshared) resident bytes of a process, from smaps_rollup; its RSS where that is missing. */
function privateBytes(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const clean = /Private_Clean:\s+(\d+) kB/.exec(text);
    const dirty = /Private_Dirty:\s+(\d+) kB/.exec(text);
    if (clean && dirty) return (Number(clean[1]) + Number(dirty[1])) * 1024;
  } catch {
    // no smaps_rollup (older kernels): fall through
  }
  return rssBytes(pid);
}

/** The pid and all its descendants. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) parents.set(Number(entry), stat.ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree.filter((pid) => parents.has(pid));
}

export interface ProcessUsage {
  /** % of one core over the window (200 = two cores busy). */
  cpuPercent: number;
  /** The tree's resident memory, shared pages once (see above). */
  peakRssMiB: number;
  /** Largest single process in the tree (the per-process memory target). */
  peakProcessRssMiB: number;
}

export interface UsageSampler {
  stop(): ProcessUsage;
}

/** Samples the trees of one root or of several (replicas), summed. */
export function sampleUsage(root: number | readonly number[]): UsageSampler {
  const pids = (typeof root === 'number' ? [root] : root).flatMap((r) => processTree(r));
  const ticksAtStart = new Map(pids.map((pid) => [pid, readStat(pid)?.ticks ?? 0]));
  const started = process.hrtime.bigint();
  let peakTree = 0;
  let peakProcess = 0;
  const sample = () => {
    let largest = 0;
    let largestPid = -1;
    for (const pid of pids) {
      const rss = rssBytes(pid);
      if (rss > largest) [largest, largestPid] = [rss, pid];
    }
    let sum = largest;
    if (pids.length > 1) for (const pid of pids) if (pid !== largestPid) sum += privateBytes(pid);
    peakProcess = Math.max(peakProcess, largest);
    peakTree = Math.max(peakTree, sum);
  };
  sample();
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      let ticks = 0;
      for (const pid of pids)
        ticks += Math.max(0, (readStat(pid)?.ticks ?? 0) - (ticksAtStart.get(pid) ?? 0));
      const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
      return {
        cpuPercent: Math.round((ticks / clockTicks() / seconds) * 100),
        peakRssMiB: mib(peakTree),
        peakProcessRssMiB: mib(peakProcess),
      };
    },
  };
}
