/**
 * Starting and stopping the servers under test, each pinned with `taskset` to the cores the bench gives
 * servers (the load driver gets the others), and waiting until each answers a real mTLS request.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface Running {
  name: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A port free right now on 127.0.0.1, for servers that cannot report the port they bound. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let niceness = 0;

/**
 * A negative niceness (root only) lets the measured processes win the CPU over unrelated work on a shared
 * machine; every process of the bench gets the same value, so no target is favoured.
 */
export function setNiceness(value: number): void {
  niceness = value;
}

/** `[command, args]` wrapped in `nice` and `taskset` as configured. */
export function pinnedCommand(
  cores: string | undefined,
  command: string,
  args: string[],
): [string, string[]] {
  let argv = [command, ...args];
  if (cores && hasCommand('taskset')) argv = ['taskset', '-c', cores, ...argv];
  if (niceness !== 0) argv = ['nice', '-n', String(niceness), ...argv];
  return [argv[0]!, argv.slice(1)];
}

/**
 * Runs a measuring child to its end (the load driver, or the C form driver under it) and returns the JSON of
 * the last line it printed; its stderr is this process's. `killAfterMs` bounds a child that hangs.
 */
export async function lastJsonLineOf<T>(
  what: string,
  cmd: string,
  args: string[],
  killAfterMs?: number,
): Promise<T> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const killer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(killer);
  if (code !== 0) throw new Error(`${what} exited with ${code ?? signal}`);
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

/**
 * A memory cgroup with a limit, as a Kubernetes pod's `resources.limits.memory` gives its container: Node
 * sizes V8's heap from it (`process.constrainedMemory()`), so a process measured without one sizes its
 * heap from the whole machine's memory instead. Needs root and a cgroup v1 memory hierarchy or cgroup v2
 * with the memory controller; undefined (not emulated) otherwise.
 */
export function memoryCgroup(name: string, limitBytes: number): MemoryCgroup | undefined {
  const layouts = [
    { root: '/sys/fs/cgroup/memory', limitFile: 'memory.limit_in_bytes' },
    { root: '/sys/fs/cgroup', limitFile: 'memory.max' },
  ];
  for (const { root, limitFile } of layouts) {
    const dir = path.join(root, `fapi-bench-${name}-${process.pid}`);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, limitFile), String(limitBytes));
      return {
        procsFile: path.join(dir, 'cgroup.procs'),
        remove: () => {
          try {
            rmdirSync(dir);
          } catch {
            // still has a process (it is being killed) or already gone
          }
        },
      };
    } catch {
      try {
        rmdirSync(dir);
      } catch {
        // not created
      }
    }
  }
  return undefined;
}

export interface MemoryCgroup {
  procsFile: string;
  remove(): void;
}

export function spawnPinned(
  name: string,
  cores: string | undefined,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile?: string; cgroup?: MemoryCgroup } = {},
): Running {
  let [cmd, argv] =
    cores && hasCommand('taskset') ? ['taskset', ['-c', cores, command, ...args]] : [command, args];
  if (opts.cgroup) {
    // The shell joins the cgroup and execs the command: same pid, limited from its first allocation.
    argv = ['-c', 'echo $$ > "$0" && exec "$@"', opts.cgroup.procsFile, cmd, ...argv];
    cmd = 'sh';
  }
  const child = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  child.on('exit', (code, signal) => {
    if (code && !stopping) process.stderr.write(`[bench] ${name} exited with ${code ?? signal}: ${stderr}\n`);
  });
  let stopping = false;
  return {
    name,
    pid: child.pid!,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      opts.cgroup?.remove();
    },
  };
}

/** Waits for the `{"port":N}` line the bench's own Node servers print. */
export async function reportedPort(running: Running, timeoutMs = 15_000): Promise<number> {
  const lines = createInterface({ input: running.child.stdout! });
  const timer = setTimeout(() => lines.close(), timeoutMs);
  for await (const line of lines) {
    try {
      const { port } = JSON.parse(line) as { port?: number };
      if (port) {
        clearTimeout(timer);
        running.child.stdout!.resume();
        return port;
      }
    } catch {
      // not the port line
    }
  }
  throw new Error(`${running.name} did not report its port within ${timeoutMs} ms`);
}

export interface ClientTls {
  cert: string;
  key: string;
  ca: string;
}

/**
 * How a probe authenticates: a bearer token, headers made afresh for each probe (a DPoP proof is good for
 * one request only), or nothing.
 */
export type ProbeCredentials = string | (() => Promise<Record<string, string>>) | undefined;

async function probeHeaders(credentials: ProbeCredentials): Promise<Record<string, string>> {
  if (credentials === undefined) return {};
  if (typeof credentials === 'string') return { authorization: `Bearer ${credentials}` };
  return credentials();
}

/** One request as a client would send it; resolves with the status (0 when the connection failed). */
export async function probe(
  url: string,
  tls: ClientTls | undefined,
  credentials?: ProbeCredentials,
): Promise<number> {
  const headers = await probeHeaders(credentials);
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    };
    const req = tls
      ? https.get(
          url,
          {
            headers,
            timeout: 3000,
            agent: false,
            cert: readFileSync(tls.cert),
            key: readFileSync(tls.key),
            ca: readFileSync(tls.ca),
          },
          onResponse,
        )
      : http.get(url, { headers, timeout: 3000, agent: false }, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Polls until the target answers 200 (or the deadline passes). */
export async function waitUntilServing(
  name: string,
  url: string,
  tls: ClientTls | undefined,
  credentials: ProbeCredentials,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < deadline) {
    last = await probe(url, tls, credentials);
    if (last === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not answer 200 at ${url} within ${timeoutMs} ms (last status ${last})`);
}
