/** promtool (Debian package `prometheus`, installed by .ci/run) as a child process. */
import { execFile } from 'node:child_process';

export interface PromtoolResult {
  code: number;
  output: string;
}

export function promtool(
  args: string[],
  options: { cwd?: string; input?: string } = {},
): Promise<PromtoolResult> {
  return new Promise((resolve) => {
    const child = execFile('promtool', args, { cwd: options.cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: stdout + stderr });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}
