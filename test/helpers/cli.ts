/** Runs the built `fapi-gateway` command line (dist/cli/main.js) as a child process. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const mainJs = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [mainJs, ...args],
      { cwd: path.dirname(mainJs), env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Key paths of the problems `check-config` printed (`FILE: key.path: message`). */
export function problemPaths(stdout: string, file: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith(`${file}: `) && !l.endsWith(': OK (gateway configuration)'))
    .map((l) => l.slice(file.length + 2).split(': ')[0]!);
}
