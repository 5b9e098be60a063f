/**
 * `fapi-gateway gateway --config FILE`: one gateway process with signal handling.
 * SIGTERM/SIGINT drain and exit 0; SIGHUP re-reads the configuration file (validate first, keep the old
 * configuration on any error).
 */
import { loadConfig } from '../config/load.js';
import { gatewayConfigSchema, GATEWAY_ENV_PREFIX, type GatewayConfig } from './config.js';
import { createGatewayLogger } from './logger.js';
import { startGateway, type GatewayHandle } from './server.js';

/** Re-reads and validates the file, then applies it; on any problem the running configuration stays. */
export function reloadFromFile(gateway: GatewayHandle, configFile: string): boolean {
  const { logger, metrics } = gateway;
  const loaded = loadConfig(configFile, gatewayConfigSchema, { envPrefix: GATEWAY_ENV_PREFIX });
  if (!loaded.ok) {
    metrics.configReloads.labels('config', 'failure').inc();
    logger.error(
      { event: 'config_reload', result: 'failure', problems: loaded.problems },
      'configuration reload refused; the running configuration stays',
    );
    return false;
  }
  try {
    gateway.reload(loaded.config);
  } catch (err) {
    metrics.configReloads.labels('config', 'failure').inc();
    logger.error(
      { event: 'config_reload', result: 'failure', err: (err as Error).message },
      'configuration reload refused; the running configuration stays',
    );
    return false;
  }
  metrics.configReloads.labels('config', 'success').inc();
  logger.info({ event: 'config_reload', result: 'success' }, 'configuration reloaded');
  return true;
}

export async function runGateway(config: GatewayConfig, options: { configFile: string }): Promise<number> {
  const logger = createGatewayLogger(config.logging.level);
  const gateway = await startGateway(config, { logger });
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ event: 'signal', signal }, `received ${signal}`);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.off('SIGHUP', onHangup);
      gateway.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    const onHangup = () => {
      reloadFromFile(gateway, options.configFile);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', onHangup);
  });
}
