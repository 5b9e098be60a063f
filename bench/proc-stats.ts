/**
 * CPU and memory of a server under test, read from /proc for the whole process tree (nginx's and the
 * gateway's workers included): CPU as % of one core over the measured window, peak RSS of the tree and of
 * its largest single process, sampled every 100 ms.
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
    let sum = 0;
    for (const pid of pids) {
      const rss = rssBytes(pid);
      sum += rss;
      peakProcess = Math.max(peakProcess, rss);
    }
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
