#!/usr/bin/env node
// Runs the tap suite and ends the output with `N passed, N failed, N skipped`, the line CI reads
// (tap's own closing summary `# { total: ... }` is not recognised by CI). Extra arguments go to tap.
// `--unit` runs only the test files that open with a `// test:unit` line: pure tests with no sockets, child
// processes, browsers or external tools, which finish in seconds (`npm run test:unit`).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
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

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const MEMORY_ONLY_MARKER = /^\/\/ test:memory-only\b/m;
// Files that start their own redis-server already run on Redis where it matters (replicas, the store
// contract, outages): a second pass would repeat them, not compare the stores.
const OWN_REDIS = /startRedisServer\(/;

/**
 * The issuer tests again, with every test issuer on the Redis store (FAPI_TEST_ISSUER_STORAGE=redis), so
 * the memory and Redis stores keep giving the same answers. Opt-outs name their reason on a
 * `// test:memory-only <why>` line at the top.
 */
function issuerRedisFiles() {
  return readdirSync(path.join(repoRoot, 'test', 'issuer'), { recursive: true })
    .map((f) => path.join('test', 'issuer', String(f)))
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => {
      const text = readFileSync(path.join(repoRoot, f), 'utf8');
      return !MEMORY_ONLY_MARKER.test(text.slice(0, 1024)) && !OWN_REDIS.test(text);
    })
    .sort();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One redis-server for the whole Redis pass: loopback, free port, persistence off. */
async function startRedis() {
  const port = await freePort();
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 20_000);
    child.stdout.on('data', (c) => {
      output += c.toString();
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${output}`));
    });
  });
  child.stdout.resume();
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/**
 * Collects every failing assertion with the test file and subtests it sits in and the first lines of its
 * diagnostics, so the end of the output says what failed without scrolling through thousands of lines.
 */
function collectFailures() {
  let partial = '';
  const stack = []; // subtest names by indentation depth
  const found = [];
  let current = null; // the failure whose YAML diagnostics are being read
  const line = (l) => {
    const indent = /^ */.exec(l)[0].length;
    const depth = indent / 4;
    const body = l.slice(indent);
    if (current) {
      if (indent > current.indent) {
        const yamlFence = body === '---' || body === '...';
        if (!yamlFence && current.diag.length < 200) current.diag.push(l.slice(current.indent + 2));
        return;
      }
      current = null;
    }
    const sub = /^# Subtest: (.*)$/.exec(body);
    if (sub) {
      stack.length = depth;
      stack[depth] = sub[1];
      return;
    }
    const notOk = /^not ok \d+ - (.*?)(?: # time=.*)?$/.exec(body);
    if (notOk) {
      const name = [...stack.slice(0, depth), notOk[1]].join(' > ');
      // A failing subtest is reported by its own failing assertions first; keep only those leaves.
      const last = found.at(-1);
      if (last && last.depth > depth && last.name.startsWith(`${name} > `)) return;
      current = { indent, depth, name, diag: [] };
      found.push(current);
    }
  };
  return {
    push(text) {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) line(l);
    },
    end() {
      if (partial) line(partial);
      return found.map((f) => [`not ok: ${f.name}`, ...brief(f.diag).map((d) => `    ${d}`)].join('\n'));
    },
  };
}

/** A failure's YAML diagnostics without the source and stack blocks, `at` on one line, at most 20 lines. */
function brief(diag) {
  const out = [];
  let key = '';
  let at = {};
  for (const d of diag) {
    const top = /^(\w[\w-]*):/.exec(d);
    if (top) key = top[1];
    if (key === 'source' || key === 'stack') continue;
    if (key === 'at') {
      const m = /^\s+(fileName|lineNumber): (.*)$/.exec(d);
      if (m) at[m[1]] = m[2];
      if (at.fileName && at.lineNumber) {
        out.push(`at: ${at.fileName}:${at.lineNumber}`);
        at = {};
      }
      continue;
    }
    out.push(d);
  }
  return out.length > 20 ? [...out.slice(0, 20), '...'] : out;
}

function runTap(args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tapBin, `--reporter=${reporter}`, ...args], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let tail = '';
    const failures = collectFailures();
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4096);
      failures.push(text);
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
      resolve({
        failures: failures.end(),
        passed: counts.pass,
        failed,
        skipped: counts.skip + counts.todo,
        code: code ?? (signal ? 1 : 0),
      });
    });
  });
}

async function redisPass(files) {
  const redis = await startRedis();
  try {
    console.log(`\n# issuer tests on the Redis store (${redis.url})`);
    return await runTap(files.length > 0 ? files : issuerRedisFiles(), {
      ...process.env,
      FAPI_TEST_ISSUER_STORAGE: 'redis',
      FAPI_TEST_REDIS_URL: redis.url,
    });
  } finally {
    redis.stop();
  }
}

// `--with-issuer-redis`: the suite, then the Redis pass (skipped with FAPI_TEST_ISSUER_REDIS_PASS=0);
// `--issuer-redis [files]`: the Redis pass alone. One summary line either way.
const rest = process.argv.slice(2);
const unit = rest.includes('--unit');
const onlyRedis = rest.includes('--issuer-redis');
const withRedis = rest.includes('--with-issuer-redis') && process.env.FAPI_TEST_ISSUER_REDIS_PASS !== '0';
const extra = rest.filter((a) => !['--unit', '--issuer-redis', '--with-issuer-redis'].includes(a));
const results = [];
if (!onlyRedis) results.push(await runTap([...extra, ...(unit ? unitTestFiles() : [])], process.env));
if (onlyRedis || withRedis) results.push(await redisPass(onlyRedis ? extra : []));
const sum = (k) => results.reduce((n, r) => n + r[k], 0);
const failures = results.flatMap((r) => r.failures);
if (failures.length > 0) console.log(`\n# what failed\n${failures.join('\n')}`);
console.log(`\n${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
process.exitCode = results.some((r) => r.code !== 0) ? 1 : 0;
