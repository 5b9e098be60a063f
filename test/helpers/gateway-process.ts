/**
 * Runs the built CLI (`dist/cli/main.js gateway --config FILE`) as a child process, the way operators do,
 * and reads its JSON log lines (ports come from the `started` line, so port 0 works).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startGatewayPeers, testGatewayConfigInput, type GatewayPeers } from './gateway.js';
import { fetchText, metricValue } from './metrics-text.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface GatewayProcess {
  child: ChildProcess;
  listenPort: number;
  adminPort: number;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line matching `predicate`. */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function writeConfig(dir: string, name: string, config: Record<string, unknown>): string {
  const file = path.join(dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

export async function startGatewayProcess(
  configFile: string,
  env: NodeJS.ProcessEnv = {},
  teardown?: { teardown(fn: () => unknown): void },
  /**
   * Another Node binary, or Node options before the CLI (default: this Node, none); `detached`: in a
   * process group of its own (signal the group with `process.kill(-child.pid, …)`, as a terminal's Ctrl-C does).
   */
  launch: { node?: string; nodeArgs?: string[]; detached?: boolean } = {},
): Promise<GatewayProcess> {
  const node = launch.node ?? process.execPath;
  const child = spawn(node, [...(launch.nodeArgs ?? []), CLI, 'gateway', '--config', configFile], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: launch.detached === true,
  });
  teardown?.teardown(() => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Its workers too, when it leads a process group of its own.
    if (launch.detached !== true || child.pid === undefined) return void child.kill('SIGKILL');
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: {
    predicate: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString('utf8');
    let nl;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        parsed = { msg: line };
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.predicate(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (predicate: (l: Record<string, unknown>) => boolean, timeoutMs = 20_000) => {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line; stderr: ${stderr}`)), timeoutMs);
      waiters.push({
        predicate,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then(({ code }) => {
        clearTimeout(timer);
        reject(new Error(`gateway exited (${code}) before the expected log line; stderr: ${stderr}`));
      });
    });
  };
  // Cluster workers log their own `started` line (marked worker: true); the primary's names the admin port.
  // Generous: a primary starting workers on a loaded 2-core machine can take well over 20 s.
  const started = await waitForLog((l) => l.event === 'started' && l.worker === undefined, 60_000);
  const port = (s: unknown) => Number(String(s).split(':').pop());
  return {
    child,
    listenPort: port(started.listen),
    adminPort: port(started.admin),
    logs,
    stderr: () => stderr,
    waitForLog,
    exited,
  };
}

/** Polls the admin listener's /readyz until it answers 200 (or `timeoutMs` passes); returns the last status. */
export async function waitUntilReady(adminPort: number, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await fetchText(adminPort, '/readyz');
    if (status === 200 || Date.now() > deadline) return status;
    await sleep(100);
  }
}

export interface GatewayProcessFixture extends GatewayPeers {
  /** The configuration written to `configFile` (schema input): tests rewrite it to exercise reloads. */
  input: Record<string, unknown>;
  configFile: string;
  gateway: GatewayProcess;
  /** GET on the admin listener. */
  admin: (path: string) => Promise<{ status: number; body: string }>;
  /** A metric's value in the admin listener's scrape (0 when absent). */
  metric: (name: string, labels?: Record<string, string>) => Promise<number>;
}

/**
 * The gateway as operators run it (the built CLI in a child process) with its peers (`startGatewayPeers`),
 * ready: its configuration written under the PKI's folder, started, and /readyz answering 200. `edit`
 * changes the configuration input before it is written.
 */
export async function startGatewayProcessFixture(
  t: { teardown(fn: () => unknown): void },
  options: {
    overrides?: Record<string, unknown>;
    edit?: (input: Record<string, unknown>, peers: GatewayPeers) => void;
    /** Environment of the gateway process, added to this one's. */
    env?: (peers: GatewayPeers) => NodeJS.ProcessEnv;
    fileName?: string;
    launch?: Parameters<typeof startGatewayProcess>[3];
  } = {},
): Promise<GatewayProcessFixture> {
  const peers = await startGatewayPeers(t);
  const input = testGatewayConfigInput(peers.pki, peers.jwks.url, peers.upstream.url, options.overrides);
  options.edit?.(input, peers);
  const configFile = writeConfig(peers.pki.dir, options.fileName ?? 'gateway.yaml', input);
  const gateway = await startGatewayProcess(configFile, options.env?.(peers), t, options.launch);
  const status = await waitUntilReady(gateway.adminPort);
  if (status !== 200)
    throw new Error(`the gateway never became ready (/readyz ${status}): ${gateway.stderr()}`);
  const admin = (p: string) => fetchText(gateway.adminPort, p);
  return {
    ...peers,
    input,
    configFile,
    gateway,
    admin,
    metric: async (name, labels) => metricValue((await admin('/metrics')).body, name, labels) ?? 0,
  };
}
