/** Issuer replicas as child processes (test/helpers/issuer-replica-main.ts), for tests that kill one. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./issuer-replica-main.ts', import.meta.url));

export interface IssuerReplica {
  child: ChildProcess;
  url: string;
  mtlsUrl: string;
  adminPort: number;
  logs: Record<string, unknown>[];
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function startIssuerReplica(
  dir: string,
  input: { config: Record<string, unknown>; redisUrl?: string; ciba?: Record<string, unknown> },
): Promise<IssuerReplica> {
  const file = path.join(dir, `replica-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(input));
  // The test loader (TypeScript) of this process, so the child runs the same sources.
  const child = spawn(process.execPath, [...process.execArgv, MAIN, file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica did not start in 60 s: ${stderr}`)), 60_000);
    child.stdout?.on('data', (c: Buffer) => {
      buffered += c.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        const line = JSON.parse(l) as Record<string, unknown>;
        logs.push(line);
        if (line.msg === 'replica started') {
          clearTimeout(timer);
          resolve(line);
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`replica exited (${code}) at start: ${stderr}`));
    });
  });
  const line = await started;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = async (s: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(s);
    await exited;
  };
  return {
    child,
    url: String(line.url),
    mtlsUrl: String(line.mtlsUrl),
    adminPort: Number(line.adminPort),
    logs,
    kill: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
  };
}
