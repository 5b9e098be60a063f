/**
 * `fapi-gateway gateway --config FILE`: the gateway with signals, reloads and (with `workers` > 1) a
 * cluster of worker processes.
 *  - SIGTERM/SIGINT: fail /readyz and keep serving for shutdown.graceSeconds, then stop accepting, drain
 *    in-flight requests, exit 0.
 *  - SIGHUP: re-read and validate the configuration file; keep the running one on any problem.
 *  - TLS files are watched; new certificates and CA bundles apply to new connections.
 *  - tokens.jwksCa and upstream.ca are watched; a change rebuilds the JWKS cache or the forwarder.
 */
import type { Logger } from 'pino';
import { heapSettings } from '../cli/v8-heap.js';
import type { GatewayConfig } from './config.js';
import { createGatewayLogger } from './logger.js';
import { applyReloadedConfig, loadReloadedConfig, watchCaBundles, watchCertificates } from './reloads.js';
import { untilStopSignal, workerCount } from './process-control.js';
import { startGateway, type GatewayHandle } from './server.js';
import type { GatewayMetrics } from './metrics.js';

async function runSingleProcess(config: GatewayConfig, configFile: string, logger: Logger): Promise<number> {
  // The watches take the files' contents as they are now, before the gateway reads them, and start
  // applying changes once it runs: a file replaced during start-up is not missed.
  let gateway: GatewayHandle | undefined;
  let running = config;
  const certificates = watchCertificates(
    config.tls,
    (m) => gateway!.useTlsMaterial(m),
    logger,
    lazyMetrics(() => gateway!.metrics),
    { paused: true },
  );
  // The same configuration again: the gateway rebuilds what uses a bundle whose contents changed.
  const caBundles = watchCaBundles(
    config,
    () => gateway!.reload(running),
    logger,
    lazyMetrics(() => gateway!.metrics),
    { paused: true },
  );
  try {
    gateway = await startGateway(config, { logger });
  } catch (err) {
    certificates.close();
    caBundles.close();
    throw err;
  }
  certificates.resume();
  caBundles.resume();
  const started = gateway;
  await untilStopSignal(logger, () => {
    const next = loadReloadedConfig(configFile, logger, started.metrics);
    if (next === undefined) return;
    if (applyReloadedConfig(() => started.reload(next), logger, started.metrics)) {
      if (JSON.stringify(next.tls) !== JSON.stringify(running.tls)) certificates.retarget(next.tls);
      caBundles.retarget(next);
      running = next;
    }
  });
  certificates.close();
  caBundles.close();
  await started.close({ graceMs: running.shutdown.graceSeconds * 1000 });
  return 0;
}

/** The reload counters of a gateway that exists by the time a resumed watch counts anything. */
function lazyMetrics(metrics: () => GatewayMetrics): Pick<GatewayMetrics, 'configReloads'> {
  return {
    get configReloads() {
      return metrics().configReloads;
    },
  };
}

export async function runGateway(config: GatewayConfig, options: { configFile: string }): Promise<number> {
  const logger = createGatewayLogger(config.logging.level);
  // Cluster workers inherit the primary's Node options (cluster.setupPrimary's default execArgv).
  logger.info({ event: 'v8_heap', ...heapSettings() }, 'V8 heap settings');
  if (workerCount(config.workers) > 1) {
    const { runPrimary } = await import('./cluster.js');
    return runPrimary(config, options.configFile, logger);
  }
  return runSingleProcess(config, options.configFile, logger);
}
