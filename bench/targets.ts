/**
 * The servers under test and how each is started: the upstream directly, nginx, HAProxy, fapi-gateway (one
 * process, workers, a build or runtime compared alongside, and the configurations of scenarios (e) and (f):
 * a DPoP route and opaque tokens by introspection), and the bare Node.js forwarders.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { haproxyConfig, nginxConfig } from './configs.js';
import {
  issuerConfig,
  oidcProviderSpec,
  TOKEN_PATH,
  waitUntilIssuing,
  type IssuerFixture,
  type IssuerStorageSetting,
} from './issuers.js';
import { FORWARDER_MODES, type ForwarderMode } from './forwarders.js';
import { nodeVersion, here, log, ROUTE, type CoreLayout, type Options } from './options.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_SCOPE, type BenchPki } from './pki.js';
import { processTree } from './proc-stats.js';
import { startBenchRedis, type BenchRedis } from './redis.js';
import {
  freePort,
  hasCommand,
  memoryCgroup,
  reportedPort,
  spawnPinned,
  waitUntilServing,
  type ClientTls,
  type ProbeCredentials,
  type Running,
} from './processes.js';

export type GatewayTargetId =
  'gateway' | 'gateway-workers' | 'gateway-compare' | 'gateway-dpop' | 'gateway-introspection';

/**
 * The token issuers: fapi-gateway's and its peer, node-oidc-provider; and fapi-gateway's on a Redis
 * store, one replica and two sharing one Redis.
 */
export type IssuerTargetId =
  'issuer' | 'issuer-compare' | 'oidc-provider' | 'issuer-redis' | 'issuer-redis-2';

export type TargetId =
  'direct' | 'nginx' | 'haproxy' | GatewayTargetId | `forward-${ForwarderMode}` | IssuerTargetId;

export interface Started {
  running: Running;
  url: string;
  /** The gateway's admin listener (metrics), when the target has one. */
  adminUrl?: string;
  /** The issuer's listener without client certificates (browser pages), when the target has one. */
  publicUrl?: string;
  /**
   * Replicas: the root pid of every process serving the target (their CPU is summed; default
   * `running.pid`) and every URL the load is spread over (the first is `url`).
   */
  pids?: number[];
  urls?: string[];
  /**
   * The Redis the target keeps its state in: its pid (CPU sampled apart), its per-command call counters,
   * and the token requests the replicas answered so far (their own metrics), read next to the counters.
   */
  redis?: {
    pid: number;
    calls(): Promise<Record<string, number>>;
    reads(): Promise<number>;
    tokenRequests(): Promise<number>;
  };
}

export interface TargetDef {
  id: TargetId;
  label: string;
  /** Plain HTTP (the upstream itself) or mTLS. */
  mtls: boolean;
  start(): Promise<Started>;
}

/** How the gateway targets are started: the options that say so, taken as they are. */
export type GatewayRunOptions = Pick<
  Options,
  | 'gatewayCli'
  | 'compareCli'
  | 'compareNode'
  | 'gatewayNode'
  | 'gatewayNodeFlags'
  | 'compareNodeFlags'
  | 'memoryLimitMiB'
>;

/** The client_id the gateway authenticates as at the introspection endpoint. */
export const GATEWAY_CLIENT_ID = 'fapi-gateway-bench';

/**
 * RFC 9449 §11.1: a used proof is remembered for the iat window. At a few thousand proofs per second
 * the default 100,000 entries would fill within the 60 s window; a deployment sizes it the same way
 * (rate x window).
 */
export const DPOP_REPLAY_ENTRIES = 1_000_000;

export interface Context {
  /** The run's options; the gateway targets read how to start the gateway from them. */
  options: GatewayRunOptions;
  pki: BenchPki;
  upstreamPort: number;
  jwksUrl: string;
  /** The stub authorization server's introspection endpoint (scenario f), when it runs. */
  introspectionUrl: string | undefined;
  runDir: string;
  layout: CoreLayout;
  token: string;
  /** Headers of one DPoP-bound request to a URL (a fresh proof each call), for readiness probes. */
  dpopHeaders: (url: string) => Promise<Record<string, string>>;
  profileDir: string | undefined;
  /** Set once a gateway started: whether the memory limit could be applied (needs root and cgroups). */
  memoryLimitApplied?: boolean;
  /** The issuer scenarios' clients and key, when they run. */
  issuer?: IssuerFixture;
  /** Settings merged over every gateway configuration (the hostile soak's connection cap). */
  gatewaySettings?: Record<string, unknown>;
}

export function clientTls(pki: BenchPki): ClientTls {
  return { cert: pki.files.clientCert, key: pki.files.clientKey, ca: pki.files.caCert };
}

/** The gateway's configuration for one target: the same listener, upstream and tokens for every one. */
export function gatewayConfig(
  ctx: Context,
  id: GatewayTargetId,
  workers: number,
  ports: { listen: number; admin: number },
): Record<string, unknown> {
  const { pki } = ctx;
  const tokens: Record<string, unknown> = {
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
    jwksUri: ctx.jwksUrl,
    algorithms: ['ES256'],
  };
  if (id === 'gateway-introspection') {
    if (!ctx.introspectionUrl) throw new Error('the stub authorization server is not running');
    tokens.introspection = {
      endpoint: ctx.introspectionUrl,
      clientId: GATEWAY_CLIENT_ID,
      auth: {
        method: 'tls_client_auth',
        cert: pki.gatewayClient.certFile,
        key: pki.gatewayClient.keyFile,
      },
    };
  }
  return {
    listen: { host: '127.0.0.1', port: ports.listen },
    admin: { host: '127.0.0.1', port: ports.admin },
    tls: { cert: pki.files.serverCert, key: pki.files.serverKey, clientCa: pki.files.caCert },
    upstream: { url: `http://127.0.0.1:${ctx.upstreamPort}` },
    tokens,
    ...(id === 'gateway-dpop'
      ? {
          dpop: {
            algorithms: ['ES256'],
            iatWindowSeconds: 60,
            replayStore: { type: 'memory', maxEntries: DPOP_REPLAY_ENTRIES },
          },
        }
      : {}),
    routes: [
      {
        path: ROUTE,
        methods: ['GET', 'POST'],
        scopes: [TOKEN_SCOPE],
        ...(id === 'gateway-dpop' ? { binding: 'dpop' } : {}),
      },
    ],
    workers,
    logging: { level: 'info' },
    // Stopped between runs by the bench, not by a load balancer: no grace period to wait out (and a
    // process that exits within the bench's stop deadline writes its CPU profile under --profile).
    shutdown: { graceSeconds: 0, drainTimeoutMs: 2000 },
    ...ctx.gatewaySettings,
  };
}

export function targetDefinitions(ctx: Context): TargetDef[] {
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

  const gatewayLabel = (
    id: GatewayTargetId,
    workers: number,
    cli: string,
    nodeBinary: string,
    nodeFlags: string[],
  ) => {
    switch (id) {
      case 'gateway-compare':
        return `fapi-gateway (1 process, ${nodeBinary !== ctx.options.gatewayNode ? `Node ${nodeVersion(nodeBinary)}` : nodeFlags !== ctx.options.gatewayNodeFlags ? `node ${nodeFlags.join(' ') || 'without flags'}` : cli})`;
      case 'gateway-dpop':
        return 'fapi-gateway (1 process, binding: dpop)';
      case 'gateway-introspection':
        return 'fapi-gateway (1 process, introspection)';
      default:
        return workers === 1 ? 'fapi-gateway (1 process)' : `fapi-gateway (workers=${workers})`;
    }
  };

  const gateway = (
    id: GatewayTargetId,
    workers: number,
    cores: string | undefined,
    cli = ctx.options.gatewayCli,
    nodeBinary = ctx.options.gatewayNode,
    nodeFlags = ctx.options.gatewayNodeFlags,
  ): TargetDef => ({
    id,
    label: gatewayLabel(id, workers, cli, nodeBinary, nodeFlags),
    mtls: true,
    async start() {
      const [listen, admin] = [await freePort(), await freePort()];
      const file = path.join(runDir, `${id}.json`);
      writeFileSync(file, JSON.stringify(gatewayConfig(ctx, id, workers, { listen, admin }), null, 2));
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
      const url = `https://127.0.0.1:${listen}${ROUTE}`;
      const credentials: ProbeCredentials = id === 'gateway-dpop' ? () => ctx.dpopHeaders(url) : ctx.token;
      await waitUntilServing(id, url, tls, credentials, 30_000).catch(async (err: unknown) => {
        await running.stop();
        throw err;
      });
      if (workers > 1 && processTree(running.pid).length < 2) {
        await running.stop();
        throw new Error(`workers: ${workers} was configured but the gateway runs as a single process`);
      }
      return { running, url, adminUrl: `http://127.0.0.1:${admin}` };
    },
  });

  return [
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
    gateway('gateway-dpop', 1, layout.servers),
    gateway('gateway-introspection', 1, layout.servers),
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
    ...issuerTargets(ctx),
  ];
}

/** Token endpoint requests one issuer process answered so far (any status), from its admin /metrics. */
async function tokenRequests(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('fapi_issuer_requests_total{') && line.includes('endpoint="token"'))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function waitUntilReady(name: string, adminUrl: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(`${adminUrl}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} was not ready (its Redis store) within ${timeoutMs} ms`);
}

/**
 * The token issuers, each one process on the server cores, run by the same Node with the same flags.
 * Their URL is the token endpoint of the mTLS listener; the scenarios derive the introspection endpoint.
 */
function issuerTargets(ctx: Context): TargetDef[] {
  const { layout, runDir } = ctx;
  const node = ctx.options.gatewayNode;
  const flags = ctx.options.gatewayNodeFlags;
  const profile = (id: string) =>
    ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ctx.profileDir, id)}`] : [];
  const fixture = () => {
    if (!ctx.issuer) throw new Error('the issuer scenarios were not prepared');
    return ctx.issuer;
  };
  /** One issuer process on `cores`, serving once it issues a token. */
  const startIssuerProcess = async (
    name: string,
    cli: string,
    cores: string | undefined,
    storage?: IssuerStorageSetting,
  ): Promise<Started & { adminUrl: string }> => {
    const f = fixture();
    const ports = { listen: await freePort(), mtls: await freePort(), admin: await freePort() };
    const file = path.join(runDir, `${name}.json`);
    writeFileSync(file, JSON.stringify(issuerConfig(f, ports, storage), null, 2));
    const running = spawnPinned(
      name,
      cores,
      node,
      [...flags, ...profile(name), cli, 'issuer', '--config', file],
      { env: { NODE_ENV: 'production' } },
    );
    running.child.stdout!.resume();
    const url = `https://127.0.0.1:${ports.mtls}${TOKEN_PATH}`;
    const adminUrl = `http://127.0.0.1:${ports.admin}`;
    const publicUrl = `https://127.0.0.1:${ports.listen}`;
    // A tls_client_auth token needs no store; with Redis, ready also means connected to it.
    await waitUntilIssuing(name, url, f)
      .then(() => (storage?.type === 'redis' ? waitUntilReady(name, adminUrl) : undefined))
      .catch(async (err: unknown) => {
        await running.stop();
        throw err;
      });
    return { running, url, adminUrl, publicUrl };
  };
  const ours = (id: 'issuer' | 'issuer-compare', cli: string): TargetDef => ({
    id,
    label: id === 'issuer' ? "fapi-gateway's issuer (1 process)" : `fapi-gateway's issuer (${cli})`,
    mtls: true,
    async start() {
      const { running, url, adminUrl, publicUrl } = await startIssuerProcess(id, cli, layout.servers);
      return { running, url, adminUrl, publicUrl };
    },
  });
  /**
   * `replicas` issuer processes sharing one Redis of their own (on the server cores, as the upstream is
   * for the gateway), pinned to the server cores when there are enough of them. Else each replica gets a
   * core of its own, counting down from the last (on 2 cores: the first replica with Redis on core 1, as
   * the single replica runs, the second on core 0 beside the driver), so no replica migrates between
   * cores or shares one with the other.
   */
  const oursOnRedis = (id: 'issuer-redis' | 'issuer-redis-2', replicas: number): TargetDef => ({
    id,
    label:
      replicas === 1
        ? "fapi-gateway's issuer (1 process, Redis store)"
        : `fapi-gateway's issuer (${replicas} processes, one Redis)`,
    mtls: true,
    async start() {
      const redis: BenchRedis = await startBenchRedis(`${id}-redis`, layout.servers);
      const coresOf = (replica: number): string | undefined =>
        replicas <= layout.serverCoreCount || !layout.pin
          ? layout.servers
          : String((((layout.cores - replica) % layout.cores) + layout.cores) % layout.cores);
      const processes: (Started & { adminUrl: string })[] = [];
      const stopAll = async () => {
        for (const p of processes) await p.running.stop();
        await redis.stop();
      };
      try {
        for (let i = 1; i <= replicas; i++)
          processes.push(
            await startIssuerProcess(replicas === 1 ? id : `${id}-${i}`, ctx.options.gatewayCli, coresOf(i), {
              type: 'redis',
              redis: { url: redis.url },
            }),
          );
      } catch (err) {
        await stopAll();
        throw err;
      }
      const first = processes[0]!;
      return {
        running: { ...first.running, name: id, stop: stopAll },
        url: first.url,
        pids: processes.map((p) => p.running.pid),
        urls: processes.map((p) => p.url),
        redis: {
          pid: redis.running.pid,
          calls: () => redis.calls(),
          reads: () => redis.reads(),
          tokenRequests: async () => {
            let sum = 0;
            for (const p of processes) sum += await tokenRequests(p.adminUrl);
            return sum;
          },
        },
      };
    },
  });
  return [
    ours('issuer', ctx.options.gatewayCli),
    // A second build measured alongside (`--compare=DIST/cli/main.js`): before/after of a change.
    ...(ctx.options.compareCli ? [ours('issuer-compare', ctx.options.compareCli)] : []),
    oursOnRedis('issuer-redis', 1),
    oursOnRedis('issuer-redis-2', 2),
    {
      id: 'oidc-provider',
      label: 'node-oidc-provider (1 process)',
      mtls: true,
      async start() {
        const f = fixture();
        const running = spawnPinned(
          'oidc-provider',
          layout.servers,
          node,
          [...flags, path.join(here, 'oidc-provider-peer.js'), JSON.stringify(oidcProviderSpec(f))],
          { env: { NODE_ENV: 'production' } },
        );
        const url = `https://127.0.0.1:${await reportedPort(running)}${TOKEN_PATH}`;
        await waitUntilIssuing('oidc-provider', url, f).catch(async (err: unknown) => {
          await running.stop();
          throw err;
        });
        return { running, url };
      },
    },
  ];
}
