/**
 * `workers: N`: a primary process and N gateway workers sharing the listener (node:cluster). The primary
 * owns what must happen once: the admin listener (metrics of all workers, aggregated with prom-client's
 * AggregatorRegistry), SIGHUP validation, the certificate and CA bundle watches, replacing crashed workers, and the drain
 * on SIGTERM. Workers get their configuration and TLS material from the primary over IPC, so a worker
 * started after a refused reload runs what the others run, not whatever the file holds now.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { configReloadsCounter } from './metrics.js';
import { createAdminServer, metricsAuthorization } from './admin.js';
import { isWorkerMessage, type PrimaryMessage, type WorkerMessage } from './cluster-messages.js';
import type { GatewayConfig } from './config.js';
import { loadReloadedConfig, watchCaBundles, watchCertificates } from './reloads.js';
import { workerCount, untilStopSignal } from './process-control.js';
import { readTlsMaterial } from './tls-material.js';
import { StartupError } from './startup-error.js';

interface WorkerState {
  worker: Worker;
  ready: boolean;
  listening: boolean;
  stopping: boolean;
}

/** Metrics only the primary knows; merged with the workers' at scrape time. */
export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly configReloads = configReloadsCounter([this.registry]);
  readonly workerRestarts = new Counter({
    name: 'fapi_gateway_worker_restarts_total',
    help: 'Workers that exited unexpectedly and were replaced.',
    registers: [this.registry],
  });
  constructor(live: () => number) {
    new Gauge({
      name: 'fapi_gateway_workers',
      help: 'Live gateway worker processes.',
      registers: [this.registry],
      collect() {
        this.set(live());
      },
    });
  }
}

const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.js', import.meta.url));
const IPC_TIMEOUT_MS = 5000;

export async function runPrimary(config: GatewayConfig, configFile: string, logger: Logger): Promise<number> {
  const count = workerCount(config.workers);
  const workers = new Map<number, WorkerState>();
  const metrics = new PrimaryMetrics(() => workers.size);
  let running = config;
  let stopping = false;
  let nextId = 1;
  const pending = new Map<number, { resolve: (m: WorkerMessage) => void }>();
  const recentCrashes: number[] = [];
  let listenPort = 0;
  let firstListening: () => void = () => undefined;
  const allListening = new Promise<void>((resolve) => (firstListening = resolve));
  let startFailure: ((err: Error) => void) | undefined;
  const startFailed = new Promise<never>((_, reject) => (startFailure = reject));

  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], silent: false });

  const send = (w: Worker, m: PrimaryMessage) => {
    if (w.isConnected()) w.send(m);
  };
  const request = (w: Worker, build: (id: number) => PrimaryMessage): Promise<WorkerMessage | undefined> => {
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, IPC_TIMEOUT_MS);
      pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(m);
        },
      });
      send(w, build(id));
    });
  };

  const fork = () => {
    const worker = cluster.fork();
    const state: WorkerState = { worker, ready: false, listening: false, stopping: false };
    workers.set(worker.id, state);
    worker.on('message', (m: unknown) => {
      if (!isWorkerMessage(m)) return;
      switch (m.type) {
        case 'fapi:want-config':
          send(worker, { type: 'fapi:config', config: running });
          break;
        case 'fapi:listening':
          state.listening = true;
          listenPort = m.port;
          if ([...workers.values()].filter((s) => s.listening).length >= count) firstListening();
          break;
        case 'fapi:ready':
          if (!state.stopping) state.ready = true;
          break;
        case 'fapi:stopping':
          state.stopping = true;
          state.ready = false;
          break;
        case 'fapi:start-failed':
          if (listenPort === 0)
            startFailure?.(new StartupError('workers', `a worker could not start: ${m.error}`));
          break;
        case 'fapi:metrics':
        case 'fapi:reload-result':
          pending.get(m.id)?.resolve(m);
          break;
      }
    });
  };

  let lostWhileStopping = 0;
  cluster.on('exit', (worker, code, signal) => {
    workers.delete(worker.id);
    if (stopping) {
      // Its open requests are lost; the others keep draining, and the exit status says it.
      if (code !== 0 || signal !== null) {
        lostWhileStopping++;
        logger.error(
          { event: 'worker_exited', workerPid: worker.process.pid, code, signal, stopping: true },
          'a gateway worker exited unexpectedly while stopping',
        );
      }
      return;
    }
    metrics.workerRestarts.inc();
    const now = Date.now();
    recentCrashes.push(now);
    while (recentCrashes.length > 0 && recentCrashes[0]! < now - 10_000) recentCrashes.shift();
    // A worker that keeps crashing is restarted with a pause, not in a tight loop.
    const delay = recentCrashes.length > count * 3 ? 1000 : 0;
    logger.error(
      { event: 'worker_exited', workerPid: worker.process.pid, code, signal, restartInMs: delay },
      'a gateway worker exited unexpectedly; starting a replacement',
    );
    setTimeout(() => {
      if (!stopping) fork();
    }, delay).unref();
  });

  // The watches take the files' contents as they are before any worker reads them, and start applying
  // changes once every worker listens: a file replaced during start-up is not missed.
  const broadcast = (m: PrimaryMessage) => {
    for (const s of workers.values()) send(s.worker, m);
  };
  const certificates = watchCertificates(
    config.tls,
    (material) => broadcast({ type: 'fapi:use-tls', material }),
    logger,
    metrics,
    { paused: true },
  );

  /** Has every worker apply `next`; throws naming how many could not. */
  const reloadWorkers = async (next: GatewayConfig) => {
    const results = await Promise.all(
      [...workers.values()].map((s) =>
        request(s.worker, (id) => ({ type: 'fapi:reload-config', id, config: next })),
      ),
    );
    const failed = results.filter((r) => r?.type !== 'fapi:reload-result' || !r.ok);
    if (failed.length > 0)
      throw new Error(`the reload failed in ${failed.length} of ${results.length} workers`);
  };

  // The running configuration again: each worker rebuilds what uses a bundle whose contents changed.
  const caBundles = watchCaBundles(config, () => reloadWorkers(running), logger, metrics, { paused: true });

  for (let i = 0; i < count; i++) fork();
  try {
    await Promise.race([allListening, startFailed]);
  } catch (err) {
    stopping = true;
    certificates.close();
    caBundles.close();
    for (const s of workers.values()) s.worker.kill('SIGKILL');
    throw err;
  }
  certificates.resume();
  caBundles.resume();

  const scrape = async () => {
    const replies = await Promise.all(
      [...workers.values()].map((s) => request(s.worker, (id) => ({ type: 'fapi:metrics-request', id }))),
    );
    const arrays: object[] = [await metrics.registry.getMetricsAsJSON()];
    for (const r of replies) if (r?.type === 'fapi:metrics') arrays.push(r.metrics);
    const aggregated = AggregatorRegistry.aggregate(arrays);
    return { contentType: aggregated.contentType, body: await aggregated.metrics() };
  };
  // Not ready from the first moment of stopping: the workers' grace period exists so load balancers see it.
  const ready = () => !stopping && workers.size > 0 && [...workers.values()].every((s) => s.ready);
  const admin = createAdminServer({
    metrics: scrape,
    ready,
    metricsAuthorized: metricsAuthorization(config.admin),
  });
  const adminPort = await new Promise<number>((resolve, reject) => {
    admin.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new StartupError(
          'admin',
          `${config.admin.host}:${config.admin.port} cannot be opened (${err.code ?? err.message})`,
        ),
      ),
    );
    admin.listen(config.admin.port, config.admin.host, () => resolve((admin.address() as AddressInfo).port));
  });
  logger.info(
    {
      event: 'started',
      workers: count,
      listen: `${config.listen.host}:${listenPort}`,
      admin: `${config.admin.host}:${adminPort}`,
    },
    `fapi-gateway listening with ${count} workers`,
  );

  const reloadConfig = async () => {
    const next = loadReloadedConfig(configFile, logger, metrics);
    if (next === undefined) return;
    try {
      if (JSON.stringify(next.tls) !== JSON.stringify(running.tls)) readTlsMaterial(next.tls);
    } catch (err) {
      metrics.configReloads.labels('config', 'failure').inc();
      logger.error(
        { event: 'config_reload', result: 'failure', err: (err as Error).message },
        'configuration reload refused',
      );
      return;
    }
    try {
      await reloadWorkers(next);
    } catch (err) {
      metrics.configReloads.labels('config', 'failure').inc();
      logger.error(
        { event: 'config_reload', result: 'failure', err: (err as Error).message },
        'configuration reload failed in some workers',
      );
      return;
    }
    if (JSON.stringify(next.tls) !== JSON.stringify(running.tls)) certificates.retarget(next.tls);
    caBundles.retarget(next);
    running = next;
    metrics.configReloads.labels('config', 'success').inc();
    logger.info({ event: 'config_reload', result: 'success' }, 'configuration reloaded in every worker');
  };

  await untilStopSignal(logger, () => void reloadConfig());
  stopping = true;
  certificates.close();
  caBundles.close();
  logger.info(
    { event: 'draining', workers: workers.size },
    'stopping: workers drain their in-flight requests',
  );
  const exits = [...workers.values()].map(
    (s) =>
      new Promise<void>((resolve) =>
        s.worker.isDead() ? resolve() : s.worker.once('exit', () => resolve()),
      ),
  );
  for (const s of workers.values()) s.worker.process.kill('SIGTERM');
  const deadline = setTimeout(
    () => {
      for (const s of workers.values()) s.worker.process.kill('SIGKILL');
    },
    running.shutdown.graceSeconds * 1000 + running.shutdown.drainTimeoutMs + 5000,
  );
  await Promise.all(exits);
  clearTimeout(deadline);
  admin.closeAllConnections();
  await new Promise<void>((resolve) => admin.close(() => resolve()));
  logger.info({ event: 'stopped', workersLost: lostWhileStopping }, 'fapi-gateway stopped');
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  return lostWhileStopping === 0 ? 0 : 1;
}
