/**
 * The C load driver for the one-form-per-request issuer scenarios (bench/native/form-driver.c), built with
 * the machine's C compiler against OpenSSL's headers (Debian `libssl-dev`) when the bench starts. Without
 * them the bench says so and uses the JavaScript driver, which costs the measured cores more per request.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export function buildFormDriver(root: string, outDir: string): { binary?: string; reason?: string } {
  const source = path.join(root, 'bench', 'native', 'form-driver.c');
  const binary = path.join(outDir, 'form-driver');
  mkdirSync(outDir, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const built = spawnSync(cc, ['-O2', '-o', binary, source, '-lssl', '-lcrypto'], { encoding: 'utf8' });
  if (built.error || built.status !== 0) {
    const why = built.error ? String(built.error.message) : built.stderr.trim().split('\n')[0];
    return {
      reason: `${cc} could not build ${path.relative(root, source)} (${why}); install gcc and libssl-dev`,
    };
  }
  return { binary };
}
