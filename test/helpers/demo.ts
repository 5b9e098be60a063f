/**
 * `fapi-gateway demo` (what `npm start` runs) as a child process on ephemeral ports (`--port-base 0`), in a
 * folder of its own, resolved once it has printed its walkthrough. Killed on teardown if still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI } from './gateway-process.js';

/** The demo's last line once every server runs. */
const READY_LINE = 'Press Ctrl-C to stop everything.';

export interface RunningDemo {
  child: ChildProcess;
  /** The folder the demo runs in (its PKI and the printed commands are relative to it). */
  cwd: string;
  /** Everything printed on stdout so far. */
  out(): string;
  /** Everything printed on stderr so far. */
  err(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export async function startDemo(
  t: { teardown(fn: () => unknown): void },
  options: { args?: string[]; cwd?: string; timeoutMs?: number } = {},
): Promise<RunningDemo> {
  const cwd = options.cwd ?? mkdtempSync(path.join(tmpdir(), 'fapi-demo-'));
  const child = spawn(process.execPath, [CLI, 'demo', '--port-base', '0', ...(options.args ?? [])], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const timeoutMs = options.timeoutMs ?? 90_000;
    const timer = setTimeout(
      () => reject(new Error(`the demo did not start in ${timeoutMs} ms: ${out}${err}`)),
      timeoutMs,
    );
    const check = () => {
      if (out.includes(READY_LINE)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    check();
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (${code}) before it was ready: ${out}${err}`));
    });
  });
  return { child, cwd, out: () => out, err: () => err, exited };
}
