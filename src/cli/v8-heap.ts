/**
 * The V8 young-generation size the servers need, arranged by the process itself so that every way of
 * starting them (the image, the npm bin, `node dist/cli/main.js`, `npm start`) runs with the same heap.
 *
 * Why: V8 sizes its semi-spaces from the heap limit, which Node derives from the memory it may use. Under a
 * 512 MiB pod limit that gives 1-2 MiB semi-spaces (a scavenge every few hundred requests: ~20% fewer
 * requests per second); with no limit Node 24 sizes them from the host (64 MiB each on a 24 GiB machine,
 * ~330 MiB RSS per process). 8 MiB served as many requests per second as 16 MiB with less memory.
 *
 * `v8.setFlagsFromString('--max-semi-space-size=8')` at run time does not resize a heap that already
 * exists (measured on Node 20 and 24: the young generation still grows to V8's own maximum), so the flag
 * must be on the command line: where Node has `process.execve` (22.15+, 24) the process replaces itself
 * with the same command plus the flag (same pid, same signals, no extra process). Node 20 has no execve;
 * there a child process would cost a second Node's memory, so it is started only where V8's own choice is
 * small (a heap limit under 1 GiB, i.e. a memory-limited container), where it costs throughput most.
 *
 * A size the user chose (`--max-semi-space-size` on the command line or in NODE_OPTIONS) is kept.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import v8 from 'node:v8';

/** MiB per semi-space (V8's young generation is two of them). */
export const SEMI_SPACE_MIB = 8;
export const SEMI_SPACE_FLAG = `--max-semi-space-size=${SEMI_SPACE_MIB}`;

/** The commands that run a server for as long as they are not stopped. */
const SERVER_COMMANDS: ReadonlySet<string> = new Set(['gateway', 'issuer', 'demo']);

const FLAG = /^--max[-_]semi[-_]space[-_]size(?:=(\d+))?$/;

/** Below this heap limit V8 (Node 20) chooses semi-spaces smaller than SEMI_SPACE_MIB. */
const SMALL_HEAP_BYTES = 1024 * 1024 * 1024;

export type SemiSpaceSource = 'arranged' | 'user' | 'v8-default';

export interface HeapSettings {
  /** The semi-space size on the command line or in NODE_OPTIONS; undefined when V8 chose it. */
  maxSemiSpaceMiB: number | undefined;
  source: SemiSpaceSource;
  heapSizeLimitMiB: number;
}

/** The `--max-semi-space-size` value in a list of Node options (last one wins, as in Node). */
export function semiSpaceOption(options: readonly string[]): number | undefined | 'bare' {
  let found: number | undefined | 'bare';
  for (let i = 0; i < options.length; i++) {
    const m = FLAG.exec(options[i]!);
    if (!m) continue;
    if (m[1] !== undefined) found = Number(m[1]);
    else if (options[i + 1] !== undefined && /^\d+$/.test(options[i + 1]!)) found = Number(options[++i]);
    else found = 'bare';
  }
  return found;
}

function nodeOptions(env: NodeJS.ProcessEnv): string[] {
  return (env.NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o !== '');
}

/** Set by this module on the command line it re-runs, so that a report can tell it from a user's flag. */
const ARRANGED_ENV = 'FAPI_GATEWAY_V8_ARRANGED';

/** What this process runs with, for the start-up log. */
export function heapSettings(
  execArgv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
): HeapSettings {
  const fromArgv = semiSpaceOption(execArgv);
  const fromEnv = semiSpaceOption(nodeOptions(env));
  const value = fromArgv ?? fromEnv;
  const heapSizeLimitMiB = Math.round(v8.getHeapStatistics().heap_size_limit / 1048576);
  if (value === undefined || value === 'bare') {
    return { maxSemiSpaceMiB: undefined, source: 'v8-default', heapSizeLimitMiB };
  }
  const arranged = env[ARRANGED_ENV] === String(value) && fromArgv === value;
  return { maxSemiSpaceMiB: value, source: arranged ? 'arranged' : 'user', heapSizeLimitMiB };
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Re-runs this process with the semi-space flag when a server command starts without one. Returns when
 * nothing is to be done; otherwise does not return (execve) or waits for the child for good.
 */
export async function arrangeHeap(): Promise<void> {
  const command = process.argv[2];
  if (command === undefined || !SERVER_COMMANDS.has(command)) return;
  if (process.env[ARRANGED_ENV] !== undefined && process.channel !== undefined) {
    // Started by the Node 20 path below: the channel closes when the process that started this one ends
    // (even by SIGKILL), and then this one stops as it would on SIGTERM instead of running orphaned.
    process.channel.unref();
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  if (semiSpaceOption(process.execArgv) !== undefined) return;
  if (semiSpaceOption(nodeOptions(process.env)) !== undefined) return;
  const script = process.argv[1];
  if (script === undefined) return;
  const args = [...process.execArgv, SEMI_SPACE_FLAG, script, ...process.argv.slice(2)];
  const env = { ...process.env, [ARRANGED_ENV]: String(SEMI_SPACE_MIB) };
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve === 'function') {
    execve.call(process, process.execPath, [process.execPath, ...args], env);
  }
  if (v8.getHeapStatistics().heap_size_limit >= SMALL_HEAP_BYTES) return;
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env });
  // The child gets the signals the supervisor sends this process (SIGTERM drains; SIGHUP reloads).
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    process.exit(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
  });
  child.on('error', (err) => {
    process.stderr.write(`fapi-gateway: cannot start node with ${SEMI_SPACE_FLAG}: ${err.message}\n`);
    process.exit(1);
  });
  // Nothing else of this process runs: the CLI's modules evaluate only in the child.
  await new Promise<never>(() => undefined);
}
