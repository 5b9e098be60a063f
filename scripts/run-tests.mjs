#!/usr/bin/env node
// Runs the tap suite and ends the output with `N passed, N failed, N skipped`, the line CI reads
// (tap's own closing summary `# { total: ... }` is not recognised by CI). Extra arguments go to tap.
// `--unit` runs only the test files that open with a `// test:unit` line: pure tests with no sockets, child
// processes, browsers or external tools, which finish in seconds (`npm run test:unit`).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const tapBin = fileURLToPath(new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url));
const reporter = process.stdout.isTTY ? 'terse' : 'tap';
const UNIT_MARKER = /^\/\/ test:unit\b/m;

function unitTestFiles() {
  return readdirSync(path.join(repoRoot, 'test'), { recursive: true })
    .map((f) => path.join('test', String(f)))
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => UNIT_MARKER.test(readFileSync(path.join(repoRoot, f), 'utf8').slice(0, 1024)))
    .sort();
}

const rest = process.argv.slice(2);
const unit = rest.includes('--unit');
const extra = rest.filter((a) => a !== '--unit');
const args = [tapBin, `--reporter=${reporter}`, ...extra, ...(unit ? unitTestFiles() : [])];
const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });

let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString('utf8')).slice(-4096);
});
child.on('close', (code, signal) => {
  const match = /# \{([^}]*)\}/.exec(
    tail
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('# {')) ?? '',
  );
  const counts = { total: 0, pass: 0, fail: 0, skip: 0, todo: 0 };
  if (match) {
    for (const part of match[1].split(',')) {
      const [k, v] = part.split(':').map((s) => s.trim());
      if (k in counts) counts[k] = Number(v);
    }
  }
  const failed = counts.fail + (code !== 0 && counts.fail === 0 ? 1 : 0);
  console.log(`\n${counts.pass} passed, ${failed} failed, ${counts.skip + counts.todo} skipped`);
  process.exitCode = code ?? (signal ? 1 : 0);
});
