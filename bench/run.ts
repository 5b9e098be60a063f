/**
 * `npm run bench [-- --quick]`: measures, in one run and against the same upstream and load driver, the
 * upstream directly, nginx (mTLS, no token check), HAProxy (mTLS + native JWT and cnf check) and
 * fapi-gateway, in interleaved rounds (A B C A B C ...), and writes bench/results/*.json plus the Markdown
 * table docs/benchmarks.md embeds. Servers and the driver are pinned to separate cores with taskset.
 */
// First: @peculiar/x509 (the test PKI) needs the Reflect metadata API at load time (as in src/cli/main.ts).
import 'reflect-metadata';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpus, availableParallelism, release } from 'node:os';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { formatProfile, summarizeProfile } from './profile-summary.js';
import { parse as parseYaml } from 'yaml';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startJwksServer } from '../test/helpers/jwks-server.js';
import {
  createBenchPki,
  mintAccessToken,
  mintManyTokens,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_SCOPE,
  type BenchPki,
} from './pki.js';
import { FAPI_TLS12_CIPHERS, haproxyConfig, nginxConfig } from './configs.js';
import { FORWARDER_MODES, type ForwarderMode } from './forwarders.js';
import type { LoadResult, LoadSpec } from './load.js';
import { processTree, sampleUsage } from './proc-stats.js';
import {
  embedInPage,
  markdownTable,
  ratio,
  summarize,
  type BenchReport,
  type Machine,
  type RoundResult,
  type TargetCheck,
} from './report.js';
import {
  freePort,
  hasCommand,
  reportedPort,
  pinnedCommand,
  setNiceness,
  spawnPinned,
  memoryCgroup,
  waitUntilServing,
  type ClientTls,
  type Running,
} from './processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root: this file runs from dist/bench/bench/. */
const root = path.resolve(here, '..', '..', '..');
const RESULTS = path.join(root, 'bench', 'results');
/** The page that publishes the latest full run (between its bench markers). */
const BENCHMARKS_PAGE = 'docs/benchmarks.md';
const ROUTE = '/accounts';

interface Options {
  quick: boolean;
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  scenarios: string[] | undefined;
  targets: string[] | undefined;
  soak: boolean;
  soakMinutes: number;
  /** Only the memory soak (1M requests over 100k tokens, then N minutes): bench/results/soak.json. */
  soakOnly: boolean;
  soakRequests: number;
  /** Embed the table in docs/benchmarks.md (full, unfiltered runs; `--no-docs` turns it off). */
  updateDocs: boolean;
  nice: number;
  /** Run the gateway under `node --cpu-prof` and write the top functions to bench/results/profile-*.txt. */
  profile: boolean;
  /** The gateway CLI to measure (default: this checkout's dist/cli/main.js). */
  gatewayCli: string;
  /** A second gateway build measured alongside (A/B of a change), as target `gateway-compare`. */
  compareCli: string | undefined;
  /** Another Node binary running the gateway alongside (e.g. Node 20 against 24), as `gateway-compare`. */
  compareNode: string | undefined;
  /** The Node binary that runs fapi-gateway (default: the one running the bench). */
  gatewayNode: string;
  /** V8/Node flags for fapi-gateway (default: the container image's, from the Dockerfile ENTRYPOINT). */
  gatewayNodeFlags: string[];
  /** Flags for gateway-compare instead (A/B of a runtime setting). */
  compareNodeFlags: string[] | undefined;
  /** The pod memory limit the gateway runs under (default: the Helm chart's), 0 for none. */
  memoryLimitMiB: number;
}

function parseOptions(argv: string[]): Options {
  const flag = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const quick = flag('quick');
  return {
    quick,
    // Five shorter rounds rather than three longer ones: on a shared VM a target's rate drifts between
    // rounds by up to a third, and the median of five resists one bad round.
    rounds: Number(value('rounds') ?? (quick ? 1 : 5)),
    durationSeconds: Number(value('duration') ?? (quick ? 1.2 : 3)),
    // Half a second of unmeasured load per target in --quick: without it a just-started Node process is
    // measured before its JIT has compiled the request path (0.8x HAProxy cold against 1.5x warm).
    warmupSeconds: Number(value('warmup') ?? (quick ? 0.5 : 1)),
    connections: Number(value('connections') ?? 50),
    scenarios: value('scenarios')?.split(','),
    targets: value('targets')?.split(','),
    soak: flag('soak') || flag('soak-only'),
    soakOnly: flag('soak-only'),
    soakMinutes: Number(value('soak-minutes') ?? 5),
    soakRequests: Number(value('soak-requests') ?? 1_000_000),
    nice: Number(value('nice') ?? 0),
    profile: flag('profile'),
    gatewayCli: path.resolve(value('gateway') ?? path.join(root, 'dist', 'cli', 'main.js')),
    compareCli: value('compare') && path.resolve(value('compare')!),
    compareNode: value('compare-node') && path.resolve(value('compare-node')!),
    gatewayNode: value('node') ? path.resolve(value('node')!) : process.execPath,
    gatewayNodeFlags: value('node-flags') !== undefined ? splitFlags(value('node-flags')!) : imageNodeFlags(),
    memoryLimitMiB:
      value('memory-limit') !== undefined ? Number(value('memory-limit')) : chartMemoryLimitMiB(),
    compareNodeFlags:
      value('compare-node-flags') !== undefined ? splitFlags(value('compare-node-flags')!) : undefined,
    updateDocs:
      !quick && !flag('no-docs') && value('scenarios') === undefined && value('targets') === undefined,
  };
}

/** Driver on core 0, servers on the rest; every proxy gets the same server cores. */
function coreLayout() {
  const cores = availableParallelism();
  const pin = hasCommand('taskset') && cores >= 2;
  return {
    cores,
    pin,
    driver: pin ? '0' : undefined,
    servers: pin ? (cores === 2 ? '1' : `1-${cores - 1}`) : undefined,
    all: pin ? `0-${cores - 1}` : undefined,
    serverCoreCount: pin ? cores - 1 : cores,
  };
}

type TargetId =
  | 'direct'
  | 'nginx'
  | 'haproxy'
  | 'gateway'
  | 'gateway-workers'
  | 'gateway-compare'
  | `forward-${ForwarderMode}`;

interface Started {
  running: Running;
  url: string;
  /** The gateway's admin listener (metrics), when the target has one. */
  adminUrl?: string;
}

interface TargetDef {
  id: TargetId;
  label: string;
  /** Plain HTTP (the upstream itself) or mTLS. */
  mtls: boolean;
  start(): Promise<Started>;
}

/** How the gateway targets are started: the options that say so, taken as they are. */
type GatewayRunOptions = Pick<
  Options,
  | 'gatewayCli'
  | 'compareCli'
  | 'compareNode'
  | 'gatewayNode'
  | 'gatewayNodeFlags'
  | 'compareNodeFlags'
  | 'memoryLimitMiB'
>;

interface Context {
  /** The run's options; the gateway targets read how to start the gateway from them. */
  options: GatewayRunOptions;
  pki: BenchPki;
  upstreamPort: number;
  jwksUrl: string;
  runDir: string;
  layout: ReturnType<typeof coreLayout>;
  token: string;
  profileDir: string | undefined;
  /** Set once a gateway started: whether the memory limit could be applied (needs root and cgroups). */
  memoryLimitApplied?: boolean;
}

function clientTls(pki: BenchPki): ClientTls {
  return { cert: pki.files.clientCert, key: pki.files.clientKey, ca: pki.files.caCert };
}

function targetDefinitions(ctx: Context): TargetDef[] {
  const { pki, layout, runDir } = ctx;
  const tls = clientTls(pki);
  const proxyBase = {
    upstreamPort: ctx.upstreamPort,
    serverCert: pki.files.serverCert,
    serverKey: pki.files.serverKey,
    clientCa: pki.files.caCert,
    processes: layout.serverCoreCount,
    runDir,
  };
  const node = process.execPath;
  const bench = (file: string) => path.join(here, file);

  const gateway = (
    id: 'gateway' | 'gateway-workers' | 'gateway-compare',
    workers: number,
    cores: string | undefined,
    cli = ctx.options.gatewayCli,
    nodeBinary = ctx.options.gatewayNode,
    nodeFlags = ctx.options.gatewayNodeFlags,
  ): TargetDef => ({
    id,
    label:
      id === 'gateway-compare'
        ? `fapi-gateway (1 process, ${nodeBinary !== ctx.options.gatewayNode ? `Node ${nodeVersion(nodeBinary)}` : nodeFlags !== ctx.options.gatewayNodeFlags ? `node ${nodeFlags.join(' ') || 'without flags'}` : cli})`
        : workers === 1
          ? 'fapi-gateway (1 process)'
          : `fapi-gateway (workers=${workers})`,
    mtls: true,
    async start() {
      const [listenPort, adminPort] = [await freePort(), await freePort()];
      const config = {
        listen: { host: '127.0.0.1', port: listenPort },
        admin: { host: '127.0.0.1', port: adminPort },
        tls: { cert: pki.files.serverCert, key: pki.files.serverKey, clientCa: pki.files.caCert },
        upstream: { url: `http://127.0.0.1:${ctx.upstreamPort}`, maxSockets: 256 },
        tokens: {
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          jwksUri: ctx.jwksUrl,
          algorithms: ['ES256'],
        },
        routes: [{ path: ROUTE, methods: ['GET', 'POST'], scopes: [TOKEN_SCOPE] }],
        workers,
        logging: { level: 'info' },
      };
      const file = path.join(runDir, `${id}.json`);
      writeFileSync(file, JSON.stringify(config, null, 2));
      const profile = ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ctx.profileDir, id)}`] : [];
      // Like a pod: the chart's memory limit, which Node sizes V8's heap from (workers share it).
      const cgroup =
        ctx.options.memoryLimitMiB > 0
          ? memoryCgroup(id, ctx.options.memoryLimitMiB * 1024 * 1024)
          : undefined;
      if (ctx.options.memoryLimitMiB > 0 && ctx.memoryLimitApplied === undefined) {
        ctx.memoryLimitApplied = cgroup !== undefined;
        if (!cgroup)
          log(
            `memory limit ${ctx.options.memoryLimitMiB} MiB not applied (needs root and a cgroup memory controller)`,
          );
      }
      const running = spawnPinned(
        id,
        cores,
        nodeBinary,
        [...nodeFlags, ...profile, cli, 'gateway', '--config', file],
        { env: { NODE_EXTRA_CA_CERTS: pki.files.caCert, NODE_ENV: 'production' }, cgroup },
      );
      running.child.stdout!.resume();
      const url = `https://127.0.0.1:${listenPort}${ROUTE}`;
      await waitUntilServing(id, url, tls, ctx.token, 30_000).catch(async (err: unknown) => {
        await running.stop();
        throw err;
      });
      if (workers > 1 && processTree(running.pid).length < 2) {
        await running.stop();
        throw new Error(`workers: ${workers} was configured but the gateway runs as a single process`);
      }
      return { running, url, adminUrl: `http://127.0.0.1:${adminPort}` };
    },
  });

  const defs: TargetDef[] = [
    {
      id: 'direct',
      label: 'upstream direct (plain HTTP)',
      mtls: false,
      async start() {
        const running = spawnPinned('upstream-direct', layout.servers, node, [bench('upstream.js')]);
        const port = await reportedPort(running);
        return { running, url: `http://127.0.0.1:${port}${ROUTE}` };
      },
    },
    {
      id: 'nginx',
      label: 'nginx (mTLS, no token check)',
      mtls: true,
      async start() {
        if (!hasCommand('nginx')) throw new Error('nginx is not installed (apt-get install nginx-light)');
        const listenPort = await freePort();
        const file = path.join(runDir, 'nginx.conf');
        writeFileSync(file, nginxConfig({ ...proxyBase, listen: { port: listenPort } }));
        const running = spawnPinned('nginx', layout.servers, 'nginx', [
          '-c',
          file,
          '-e',
          path.join(runDir, 'nginx-error.log'),
          '-g',
          'daemon off;',
        ]);
        const url = `https://127.0.0.1:${listenPort}${ROUTE}`;
        await waitUntilServing('nginx', url, tls, ctx.token);
        return { running, url };
      },
    },
    {
      id: 'haproxy',
      label: 'HAProxy (mTLS + JWT + cnf)',
      mtls: true,
      async start() {
        if (!hasCommand('haproxy')) throw new Error('haproxy is not installed (apt-get install haproxy)');
        const listenPort = await freePort();
        const serverCertAndKey = path.join(runDir, 'haproxy-server.pem');
        writeFileSync(serverCertAndKey, pki.server.certPem + pki.server.keyPem, { mode: 0o600 });
        const file = path.join(runDir, 'haproxy.cfg');
        writeFileSync(
          file,
          haproxyConfig({
            ...proxyBase,
            listen: { port: listenPort },
            serverCertAndKey,
            issuerPublicKey: pki.files.issuerPublicKey,
          }),
        );
        const running = spawnPinned('haproxy', layout.servers, 'haproxy', ['-f', file, '-db']);
        const url = `https://127.0.0.1:${listenPort}${ROUTE}`;
        await waitUntilServing('haproxy', url, tls, ctx.token);
        return { running, url };
      },
    },
    gateway('gateway', 1, layout.servers),
    gateway('gateway-workers', layout.cores, layout.all),
    ...(ctx.options.compareCli || ctx.options.compareNode || ctx.options.compareNodeFlags
      ? [
          gateway(
            'gateway-compare',
            1,
            layout.servers,
            ctx.options.compareCli ?? ctx.options.gatewayCli,
            ctx.options.compareNode ?? ctx.options.gatewayNode,
            ctx.options.compareNodeFlags ?? ctx.options.gatewayNodeFlags,
          ),
        ]
      : []),
    ...FORWARDER_MODES.map((mode): TargetDef => ({
      id: `forward-${mode}`,
      label: `Node forwarder: ${mode} (mTLS, no token check)`,
      mtls: true,
      async start() {
        const running = spawnPinned(`forward-${mode}`, layout.servers, ctx.options.gatewayNode, [
          ...ctx.options.gatewayNodeFlags,
          bench('forwarders.js'),
          mode,
          String(ctx.upstreamPort),
          JSON.stringify({
            serverCert: pki.files.serverCert,
            serverKey: pki.files.serverKey,
            caCert: pki.files.caCert,
          }),
        ]);
        const port = await reportedPort(running);
        const url = `https://127.0.0.1:${port}${ROUTE}`;
        await waitUntilServing(running.name, url, tls, ctx.token);
        return { running, url };
      },
    })),
  ];
  return defs;
}

interface ScenarioDef {
  id: string;
  title: string;
  targets: TargetId[];
  spec(base: LoadSpec, round: number): LoadSpec;
  /** Skip the unmeasured warm-up load (it would use up what the scenario measures). */
  noWarmup?: boolean;
}

const PEERS: TargetId[] = ['nginx', 'haproxy', 'gateway', 'gateway-workers', 'gateway-compare'];

function scenarioDefinitions(tokenSets: string[]): ScenarioDef[] {
  return [
    {
      id: 'a',
      title: '(a) one token, keep-alive, TLS 1.3',
      targets: ['direct', ...PEERS, ...FORWARDER_MODES.map((m): TargetId => `forward-${m}`)],
      spec: (base) => base,
    },
    {
      id: 'b',
      title: '(b) 10,000 distinct tokens round-robin',
      targets: PEERS,
      spec: (base, round) => ({ ...base, token: undefined, tokensFile: tokenSets[round % tokenSets.length] }),
    },
    {
      // Every request of a round presents a token the gateway has never seen: its verification cache
      // cannot help, so this is the cost of signature verification itself, against HAProxy's.
      id: 'b-cold',
      title: '(b) first pass only: 10,000 requests, each with a token never seen before',
      targets: ['haproxy', 'gateway', 'gateway-compare'],
      noWarmup: true,
      spec: (base, round) => ({
        ...base,
        token: undefined,
        tokensFile: tokenSets[(tokenSets.length + 1) / 2 + round],
        maxRequests: 10_000,
        durationSeconds: 120,
        // Connections and TLS handshakes are set up in the first half second (whose requests present
        // new tokens too): the window measures verification, not start-up.
        settleSeconds: 0.5,
      }),
    },
    {
      id: 'c',
      title: '(c) new TLS connection per request',
      targets: PEERS,
      spec: (base) => ({ ...base, reconnectEachRequest: true, settleSeconds: 0 }),
    },
    {
      id: 'd',
      title: '(d) 64 KiB POST',
      targets: ['direct', ...PEERS],
      spec: (base) => ({ ...base, method: 'POST', bodyBytes: 64 * 1024 }),
    },
    {
      id: 'tls12',
      title: '(a) over TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256',
      targets: PEERS,
      spec: (base) => ({
        ...base,
        tls: base.tls && { ...base.tls, maxVersion: 'TLSv1.2', ciphers: FAPI_TLS12_CIPHERS.split(':')[0]! },
      }),
    },
  ];
}

async function runDriver(spec: LoadSpec, cores: string | undefined): Promise<LoadResult> {
  const script = path.join(here, 'load.js');
  const [cmd, args] = pinnedCommand(cores, process.execPath, [script, JSON.stringify(spec)]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  // Every run is bounded in time as well as in requests: a stuck target cannot hang the bench.
  const killer = setTimeout(() => child.kill('SIGKILL'), (spec.durationSeconds + 30) * 1000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  if (code !== 0) throw new Error(`load driver exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as LoadResult;
}

/** First line of a version banner (nginx prints its banner on stderr). */
function commandVersion(cmd: string, args: string[]): string {
  const out = spawnSync(cmd, args, { encoding: 'utf8' });
  if (out.error) return `${cmd} not installed`;
  return `${out.stdout}${out.stderr}`.split('\n')[0]!.trim();
}

function machineFacts(gatewayNode: string): Machine {
  const autocannon = JSON.parse(
    readFileSync(path.join(root, 'node_modules', 'autocannon', 'package.json'), 'utf8'),
  ) as { version: string };
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    gatewayNode: `v${nodeVersion(gatewayNode)}`,
    nginx: commandVersion('nginx', ['-v']).replace('nginx version: ', ''),
    haproxy: commandVersion('haproxy', ['-v'])
      .replace(/ - https.*$/, '')
      .replace(/ \d{4}\/\d{2}\/\d{2}$/, ''),
    kernel: release(),
    autocannon: autocannon.version,
  };
}

function log(message: string) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * `--rebuild-report`: regenerates latest.md and the docs/benchmarks.md block from latest.json and the latest
 * soak.json, without measuring (the soak runs separately, after the matrix).
 */
function rebuildReport(): void {
  const file = path.join(RESULTS, 'latest.json');
  const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  const soakFile = path.join(RESULTS, 'soak.json');
  if (existsSync(soakFile)) {
    const soak = JSON.parse(readFileSync(soakFile, 'utf8')) as SoakResult & { date: string };
    report.soak = soak;
    report.checks = targetChecks(report.summaries, soak);
    report.notes = [
      ...notesFor(report.summaries),
      `Memory: from the separate \`npm run bench -- --soak-only\` run of ${soak.date}.`,
    ];
  }
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  const table = markdownTable(report);
  writeFileSync(path.join(RESULTS, 'latest.md'), table);
  const page = path.join(root, BENCHMARKS_PAGE);
  const updated = embedInPage(readFileSync(page, 'utf8'), table);
  if (updated) writeFileSync(page, updated);
  log(`rebuilt bench/results/latest.md and the table in ${BENCHMARKS_PAGE}`);
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (process.argv.includes('--rebuild-report')) {
    rebuildReport();
    return;
  }
  const layout = coreLayout();
  setNiceness(opts.nice);
  const startedAt = Date.now();
  log(
    `${opts.quick ? 'quick' : 'full'} run; ${layout.cores} cores; driver on core(s) ${layout.driver ?? 'any'}, servers on ${layout.servers ?? 'any'}`,
  );

  const missing = ['nginx', 'haproxy', 'taskset'].filter((cmd) => !hasCommand(cmd));
  if (missing.length > 0) {
    log(
      `missing: ${missing.join(', ')}. Install with: sudo apt-get install -y ${missing.map((m) => (m === 'nginx' ? 'nginx-light' : m === 'taskset' ? 'util-linux' : m)).join(' ')} (the bench measures what is installed and lists the rest as not measured)`,
    );
  }
  if (!existsSync(path.join(root, 'node_modules', 'autocannon'))) {
    throw new Error('the load driver (autocannon) is not installed: run `npm ci` first');
  }

  const pki = await createBenchPki();
  const runDir = path.join(pki.files.dir, 'run');
  mkdirSync(runDir, { recursive: true });
  const token = await mintAccessToken(pki, { expiresIn: 7200 });
  const tokenSets: string[] = [];
  // Rounds of (b), its warm-up, and rounds of its first-pass-only variant each get their own set.
  for (let r = 0; r < (opts.soakOnly ? 0 : 2 * opts.rounds + 1); r++) {
    const file = path.join(runDir, `tokens-${r}.json`);
    writeFileSync(file, JSON.stringify(await mintManyTokens(pki, 10_000, 7200)));
    tokenSets.push(file);
  }
  log(`PKI and ${tokenSets.length} x 10,000 tokens ready in ${pki.files.dir}`);

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn();
  };
  // Interrupted or killed: stop every server and remove the memory cgroups they ran in.
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  try {
    const upstream = spawnPinned('upstream', layout.servers, process.execPath, [
      path.join(here, 'upstream.js'),
    ]);
    cleanups.push(() => upstream.stop());
    const upstreamPort = await reportedPort(upstream);
    const jwks = await startJwksServer(pki, pki.jwks.keys);
    cleanups.push(() => jwks.close());
    const ctx: Context = {
      pki,
      upstreamPort,
      jwksUrl: jwks.url,
      runDir,
      layout,
      token,
      profileDir: opts.profile ? path.join(runDir, 'profiles') : undefined,
      options: opts,
    };

    const scenarios = scenarioDefinitions(tokenSets).filter(
      (s) => !opts.soakOnly && (!opts.scenarios || opts.scenarios.includes(s.id)),
    );
    const wanted = new Set<TargetId>(opts.soakOnly ? ['gateway'] : scenarios.flatMap((s) => s.targets));
    // --quick leaves out the forwarding-library comparison (ask for it with --targets=forward-...).
    const defs = targetDefinitions(ctx).filter(
      (t) =>
        wanted.has(t.id) &&
        (opts.targets ? opts.targets.includes(t.id) : !(opts.quick && t.id.startsWith('forward-'))),
    );
    const started = new Map<TargetId, Started>();
    const unavailable: Record<string, string> = {};
    for (const def of defs) {
      try {
        const s = await def.start();
        started.set(def.id, s);
        cleanups.push(() => s.running.stop());
        log(`${def.label} serving at ${s.url} (pid ${s.running.pid})`);
      } catch (err) {
        unavailable[def.label] = err instanceof Error ? err.message : String(err);
        log(`${def.label} not measured: ${unavailable[def.label]}`);
      }
    }
    const label = new Map(defs.map((d) => [d.id, d]));

    const baseSpec = (def: TargetDef, url: string): LoadSpec => ({
      url,
      connections: opts.connections,
      durationSeconds: opts.durationSeconds,
      maxRequests: opts.durationSeconds * 200_000,
      settleSeconds: opts.quick ? 0.4 : 1,
      ...(def.mtls ? { token, tls: { cert: pki.files.clientCert, key: pki.files.clientKey } } : {}),
    });

    const rounds: Record<string, Record<string, RoundResult[]>> = {};
    const measure = async (scenario: ScenarioDef, def: TargetDef, round: number, spec: LoadSpec) => {
      const target = started.get(def.id)!;
      const running = runDriver(spec, layout.driver);
      // Server usage is sampled over the driver's measured window only.
      await new Promise((r) => setTimeout(r, (spec.settleSeconds ?? 0) * 1000));
      const usage = sampleUsage(target.running.pid);
      const cacheBefore = target.adminUrl ? await tokenCacheCounters(target.adminUrl) : undefined;
      const result = await running;
      const stats = usage.stop();
      const cacheAfter = target.adminUrl ? await tokenCacheCounters(target.adminUrl) : undefined;
      const cacheHitPercent =
        cacheBefore && cacheAfter && cacheAfter.requests > cacheBefore.requests
          ? Math.round(
              ((cacheAfter.hits - cacheBefore.hits) / (cacheAfter.requests - cacheBefore.requests)) * 1000,
            ) / 10
          : undefined;
      ((rounds[scenario.id] ??= {})[def.id] ??= []).push({ round, ...result, ...stats, cacheHitPercent });
      log(
        `${scenario.id} r${round + 1} ${def.id}: ${result.rps} req/s p99 ${result.latencyMs.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}, server CPU ${stats.cpuPercent}%, driver CPU ${result.driverCpuPercent}%${cacheHitPercent === undefined ? '' : `, token cache hits ${cacheHitPercent}%`}`,
      );
    };

    for (const scenario of scenarios) {
      const targets = scenario.targets.filter((id) => started.has(id)).map((id) => label.get(id)!);
      for (const def of opts.warmupSeconds > 0 && !scenario.noWarmup ? targets : []) {
        const spec = scenario.spec(baseSpec(def, started.get(def.id)!.url), opts.rounds);
        await runDriver({ ...spec, durationSeconds: opts.warmupSeconds }, layout.driver);
      }
      for (let round = 0; round < opts.rounds; round++) {
        // Rotating the order each round keeps any drift (thermal, neighbours) from favouring one target.
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const def of order)
          await measure(scenario, def, round, scenario.spec(baseSpec(def, started.get(def.id)!.url), round));
      }
    }

    // p99 at half of HAProxy's maximum rate (scenario a), HAProxy and the gateway in turn.
    const haproxyA = rounds.a?.haproxy;
    const halfRate = haproxyA ? Math.round(summarize(haproxyA).rps / 2) : 0;
    const halfScenario: ScenarioDef = {
      id: 'a-half',
      title: `(a) at ${halfRate} req/s (half HAProxy's max)`,
      targets: ['haproxy', 'gateway'],
      spec: (b) => ({ ...b, rate: halfRate }),
    };
    if (halfRate > 0 && started.has('gateway')) {
      for (let round = 0; round < opts.rounds; round++) {
        for (const id of round % 2 ? (['gateway', 'haproxy'] as const) : (['haproxy', 'gateway'] as const)) {
          const def = label.get(id)!;
          await measure(
            halfScenario,
            def,
            round,
            halfScenario.spec(baseSpec(def, started.get(id)!.url), round),
          );
        }
      }
    }

    let soak: SoakResult | undefined;
    if (opts.soak && started.has('gateway')) {
      for (const [id, s] of started) if (id !== 'gateway') await s.running.stop();
      soak = await runSoak(ctx, started.get('gateway')!, opts, layout.driver);
      if (opts.soakOnly) {
        mkdirSync(RESULTS, { recursive: true });
        const record = {
          date: new Date().toISOString(),
          machine: machineFacts(opts.gatewayNode),
          gateway: opts.gatewayCli,
          ...soak,
        };
        writeFileSync(path.join(RESULTS, 'soak.json'), JSON.stringify(record, null, 2) + '\n');
        log(`wrote bench/results/soak.json: ${JSON.stringify(soak)}`);
        return;
      }
    }
    // The memory soak takes longer than the 15-minute budget allows next to the matrix on a small
    // machine, so a full run reports the latest separate `--soak-only` run.
    const soakFile = path.join(RESULTS, 'soak.json');
    const soakNote =
      !soak && !opts.quick && existsSync(soakFile)
        ? (JSON.parse(readFileSync(soakFile, 'utf8')) as SoakResult & { date: string })
        : undefined;
    if (soakNote) soak = soakNote;

    if (ctx.profileDir) await writeProfiles(ctx.profileDir, started);

    const summaries: BenchReport['summaries'] = {};
    for (const [sid, byTarget] of Object.entries(rounds)) {
      summaries[sid] = {};
      for (const [tid, rs] of Object.entries(byTarget)) summaries[sid][tid] = summarize(rs);
    }
    const allScenarios = [...scenarios, ...(halfRate > 0 ? [halfScenario] : [])];
    const report: BenchReport = {
      date: new Date().toISOString(),
      mode: opts.quick ? 'quick' : 'full',
      machine: machineFacts(opts.gatewayNode),
      settings: {
        rounds: opts.rounds,
        durationSeconds: opts.durationSeconds,
        warmupSeconds: opts.warmupSeconds,
        connections: opts.connections,
        pinning: layout.pin
          ? `Load driver (autocannon) pinned to core ${layout.driver}; upstream and each server under test pinned to core(s) ${layout.servers} (nginx ${layout.serverCoreCount} worker(s), HAProxy ${layout.serverCoreCount} thread(s), fapi-gateway 1 process); fapi-gateway workers=${layout.cores} runs on all cores, shared with the driver.`
          : 'No pinning (taskset missing or a single core).',
        memoryLimit: ctx.memoryLimitApplied
          ? `fapi-gateway ran as in a pod with the Helm chart's memory limit (${ctx.options.memoryLimitMiB} MiB, a cgroup), which Node sizes its heap from; node flags: ${opts.gatewayNodeFlags.join(' ') || 'none'}.`
          : `fapi-gateway ran without a memory limit (${ctx.options.memoryLimitMiB > 0 ? 'no cgroup memory controller or not root' : '--memory-limit=0'}); node flags: ${opts.gatewayNodeFlags.join(' ') || 'none'}.`,
        niceness: opts.nice,
        tokenAlgorithm: 'ES256',
        wallSeconds: Math.round((Date.now() - startedAt) / 1000),
      },
      scenarios: allScenarios.map((s) => ({ id: s.id, title: s.title })),
      targets: defs.map((d) => ({ id: d.id, label: d.label })),
      summaries,
      rounds,
      unavailable,
      checks: targetChecks(summaries, soak),
      soak,
      notes: [
        ...notesFor(summaries),
        ...(soakNote
          ? [`Memory: from the separate \`npm run bench -- --soak-only\` run of ${soakNote.date}.`]
          : []),
      ],
    };
    report.settings.wallSeconds = Math.round((Date.now() - startedAt) / 1000);
    const filtered = opts.scenarios !== undefined || opts.targets !== undefined;
    const name = filtered ? 'partial' : opts.quick ? 'quick' : 'latest';
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
    const table = markdownTable(report);
    writeFileSync(path.join(RESULTS, `${name}.md`), table);
    if (opts.updateDocs) {
      const page = path.join(root, BENCHMARKS_PAGE);
      const updated = embedInPage(readFileSync(page, 'utf8'), table);
      if (updated) writeFileSync(page, updated);
      else log(`${BENCHMARKS_PAGE} has no bench markers; table not embedded`);
    }
    process.stdout.write(table);
    log(`wrote bench/results/${name}.json and ${name}.md in ${report.settings.wallSeconds as number} s`);
  } finally {
    await cleanup();
  }
}

/** Stops the gateways (V8 writes the profile on exit) and summarises each profile. */
async function writeProfiles(dir: string, started: Map<TargetId, { running: Running }>) {
  for (const id of ['gateway', 'gateway-workers'] as const) {
    const target = started.get(id);
    if (!target) continue;
    await target.running.stop();
    const files = existsSync(path.join(dir, id))
      ? readdirSync(path.join(dir, id)).filter((f) => f.endsWith('.cpuprofile'))
      : [];
    if (files.length === 0) {
      log(`${id}: no CPU profile written (did the process exit cleanly on SIGTERM?)`);
      continue;
    }
    // The largest profile is the process that served the requests (a worker, with workers > 1).
    const biggest = files
      .map((f) => path.join(dir, id, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    const text = formatProfile(
      summarizeProfile(JSON.parse(readFileSync(biggest, 'utf8')) as Parameters<typeof summarizeProfile>[0]),
    );
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, `profile-${id}.txt`), text);
    log(`${id}: profile summary in bench/results/profile-${id}.txt (raw: ${biggest})`);
  }
}

interface SoakResult {
  requests: number;
  distinctTokens: number;
  rssAfterMillionMiB: number;
  rssSeriesMiB: { minute: number; rssMiB: number; gateway?: Record<string, number> }[];
  maxRssMiB: number;
  flatWithinPercent: number;
  non2xx: number;
  errors: number;
}

/** Memory target: 1,000,000 requests over 100,000 distinct tokens, then N more minutes of load. */
/** The gateway's own view of its memory (prom-client default metrics), MiB. */
async function gatewayMemory(adminUrl: string | undefined): Promise<Record<string, number> | undefined> {
  if (!adminUrl) return undefined;
  try {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const pick = (name: string) => {
      const m = new RegExp(`^fapi_gateway_${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
      return m ? Math.round((Number(m[1]) / 1048576) * 10) / 10 : NaN;
    };
    return {
      rss: pick('process_resident_memory_bytes'),
      heapTotal: pick('nodejs_heap_size_total_bytes'),
      heapUsed: pick('nodejs_heap_size_used_bytes'),
      external: pick('nodejs_external_memory_bytes'),
    };
  } catch {
    return undefined;
  }
}

async function runSoak(
  ctx: Context,
  gateway: Started,
  opts: Options,
  driverCores: string | undefined,
): Promise<SoakResult> {
  log('soak: minting 100,000 tokens');
  const file = path.join(ctx.runDir, 'tokens-soak.json');
  writeFileSync(file, JSON.stringify(await mintManyTokens(ctx.pki, 100_000, 7200)));
  const base: LoadSpec = {
    url: gateway.url,
    connections: opts.connections,
    durationSeconds: 900,
    maxRequests: opts.soakRequests,
    tokensFile: file,
    tls: { cert: ctx.pki.files.clientCert, key: ctx.pki.files.clientKey },
  };
  const pids = processTree(gateway.running.pid);
  const rssMiB = () => {
    let max = 0;
    for (const pid of pids) {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        max = Math.max(max, m ? Number(m[1]) / 1024 : 0);
      } catch {
        // exited
      }
    }
    return Math.round(max * 10) / 10;
  };
  log(`soak: ${opts.soakRequests} requests`);
  const first = await runDriver(base, driverCores);
  const rssAfterMillionMiB = rssMiB();
  log(`soak: ${first.requests} requests, RSS ${rssAfterMillionMiB} MiB; ${opts.soakMinutes} more minute(s)`);
  const series = [{ minute: 0, rssMiB: rssAfterMillionMiB, gateway: await gatewayMemory(gateway.adminUrl) }];
  log(`soak: gateway's own view (MiB): ${JSON.stringify(series[0]!.gateway)}`);
  let non2xx = first.non2xx;
  let errors = first.errors + first.timeouts;
  let requests = first.requests;
  for (let minute = 1; minute <= opts.soakMinutes; minute++) {
    const r = await runDriver({ ...base, durationSeconds: 60, maxRequests: 60 * 200_000 }, driverCores);
    requests += r.requests;
    non2xx += r.non2xx;
    errors += r.errors + r.timeouts;
    series.push({ minute, rssMiB: rssMiB(), gateway: await gatewayMemory(gateway.adminUrl) });
    log(
      `soak: minute ${minute}: ${r.rps} req/s, RSS ${series.at(-1)!.rssMiB} MiB ${JSON.stringify(series.at(-1)!.gateway)}`,
    );
  }
  const values = series.map((s) => s.rssMiB);
  const maxRssMiB = Math.max(...values);
  return {
    requests,
    distinctTokens: 100_000,
    rssAfterMillionMiB,
    rssSeriesMiB: series,
    maxRssMiB,
    flatWithinPercent: Math.round(((maxRssMiB - Math.min(...values)) / rssAfterMillionMiB) * 1000) / 10,
    non2xx,
    errors,
  };
}

function targetChecks(s: BenchReport['summaries'], soak: SoakResult | undefined): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const rpsRatio = (scenario: string, peer: string, required: number, target = 'gateway') => {
    const r = ratio(s[scenario]?.[target]?.rps, s[scenario]?.[peer]?.rps);
    checks.push({
      target: `${target === 'gateway' ? 'fapi-gateway (1 process)' : 'fapi-gateway (workers)'} / ${peer === 'haproxy' ? 'HAProxy' : 'nginx'} req/s`,
      scenario,
      measured: r === undefined ? 'n/a' : `${r.toFixed(2)}x`,
      required: `>= ${required.toFixed(1)}x`,
      met: r === undefined ? null : r >= required,
    });
  };
  rpsRatio('a', 'haproxy', 1.5);
  rpsRatio('a', 'nginx', 0.6);
  const gwHalf = s['a-half']?.gateway?.p99;
  const haHalf = s['a-half']?.haproxy?.p99;
  checks.push({
    target: 'fapi-gateway p99 at half HAProxy max rate',
    scenario: 'a',
    measured:
      gwHalf === undefined || haHalf === undefined
        ? 'n/a'
        : `${gwHalf.toFixed(2)} ms vs HAProxy ${haHalf.toFixed(2)} ms`,
    required: '<= HAProxy p99 + 1 ms',
    met: gwHalf === undefined || haHalf === undefined ? null : gwHalf <= haHalf + 1,
  });
  rpsRatio('b', 'haproxy', 1.0);
  const cold = ratio(s['b-cold']?.gateway?.rps, s['b-cold']?.haproxy?.rps);
  if (cold !== undefined) {
    checks.push({
      target: 'fapi-gateway (1 process) / HAProxy req/s, first pass only (no cache hits)',
      scenario: 'b-cold',
      measured: `${cold.toFixed(2)}x`,
      required: 'reported only',
      met: null,
    });
  }
  rpsRatio('c', 'nginx', 0.8);
  checks.push({
    target: 'RSS after 1M requests / 100k tokens',
    scenario: 'soak',
    measured: soak ? `${soak.rssAfterMillionMiB} MiB (max ${soak.maxRssMiB})` : 'n/a',
    required: '<= 150 MiB per process',
    met: soak ? soak.maxRssMiB <= 150 : null,
  });
  checks.push({
    target: 'RSS flat over further load',
    scenario: 'soak',
    measured: soak ? `${soak.flatWithinPercent}% over ${soak.rssSeriesMiB.length - 1} min` : 'n/a',
    required: 'within 10%',
    met: soak ? soak.flatWithinPercent <= 10 : null,
  });
  return checks;
}

/** The gateway's token-cache hits and requests so far, from its admin /metrics (aggregated over workers). */
async function tokenCacheCounters(adminUrl: string): Promise<{ hits: number; requests: number } | undefined> {
  try {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    let hits = 0;
    let requests = 0;
    for (const line of text.split('\n')) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.startsWith('fapi_gateway_token_cache_hits_total')) hits += value;
      else if (line.startsWith('fapi_gateway_requests_total{')) requests += value;
    }
    return { hits, requests };
  } catch {
    return undefined;
  }
}

/**
 * The flags the container image starts the gateway with (the Dockerfile's ENTRYPOINT, between `node` and
 * the CLI): the bench runs the gateway the way production does.
 */
function imageNodeFlags(): string[] {
  const m = /^ENTRYPOINT (\[.*\])\s*$/m.exec(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
  if (!m) throw new Error('Dockerfile: no ENTRYPOINT in exec form');
  const argv = JSON.parse(m[1]!) as string[];
  const from = argv.indexOf('node');
  const to = argv.findIndex((a) => a.endsWith('/dist/cli/main.js'));
  if (from === -1 || to < from)
    throw new Error('Dockerfile: ENTRYPOINT does not run node .../dist/cli/main.js');
  return argv.slice(from + 1, to);
}

/** The Helm chart's default `resources.limits.memory`, in MiB (0 when it sets none). */
function chartMemoryLimitMiB(): number {
  const values = parseYaml(
    readFileSync(path.join(root, 'charts', 'fapi-gateway', 'values.yaml'), 'utf8'),
  ) as {
    resources?: { limits?: { memory?: string } };
  };
  const limit = values.resources?.limits?.memory;
  if (limit === undefined) return 0;
  const m = /^(\d+)(Mi|Gi)$/.exec(limit);
  if (!m)
    throw new Error(`charts/fapi-gateway/values.yaml: resources.limits.memory ${limit} is not in Mi or Gi`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

function splitFlags(text: string): string[] {
  return text.split(/[\s,]+/).filter((f) => f !== '');
}

function nodeVersion(binary: string): string {
  try {
    return spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '') || binary;
  } catch {
    return binary;
  }
}

function notesFor(s: BenchReport['summaries']): string[] {
  const notes: string[] = [];
  const forwarders = FORWARDER_MODES.map((m) => ({ mode: m, rps: s.a?.[`forward-${m}`]?.rps })).filter(
    (f) => f.rps !== undefined,
  );
  if (forwarders.length > 1) {
    forwarders.sort((x, y) => y.rps! - x.rps!);
    notes.push(
      `Forwarding libraries (mTLS listener, no token check, scenario a): ${forwarders.map((f) => `${f.mode} ${f.rps!.toLocaleString('en-US')} req/s`).join(', ')}.`,
    );
  }
  const hits = (sid: string) => s[sid]?.gateway?.cacheHitPercent;
  if (hits('b') !== undefined) {
    notes.push(
      `Verification cache: in (b) fapi-gateway served ${hits('b')}% of requests from its cache (each round brings 10,000 tokens it has never seen: the first use of each misses, later passes of the round-robin hit, as a client's repeated use of its token does)${hits('b-cold') === undefined ? '' : `; in the first-pass-only run, ${hits('b-cold')}%`}. HAProxy verifies the signature on every request.`,
    );
  }
  const driverPeak = (keep: (target: string) => boolean) =>
    Math.max(
      0,
      ...Object.values(s).flatMap((byTarget) =>
        Object.entries(byTarget)
          .filter(([target]) => keep(target))
          .map(([, x]) => x.driverCpuPercent),
      ),
    );
  const direct = driverPeak((target) => target === 'direct');
  notes.push(
    `Load driver CPU peaked at ${driverPeak((target) => target !== 'direct')}% of its core against the proxies (near 100% would mean the driver, not the target, was the limit)${direct > 0 ? `; ${direct}% against the upstream directly, so that row is a lower bound of the ceiling` : ''}.`,
  );
  return notes;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
