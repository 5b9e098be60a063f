/**
 * Reloading without a restart, with one rule: validate first, and on any problem log it, count it in
 * `fapi_gateway_config_reloads_total{result="failure"}` and keep what is running.
 *  - configuration: on SIGHUP, the file is read and validated by the same schema as at start;
 *  - certificates: the TLS files are watched; new material is used for new connections, open connections
 *    keep theirs.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { gatewayConfigSchema, GATEWAY_ENV_PREFIX, type GatewayConfig } from './config.js';
import { watchFiles, type FileWatch } from './file-watch.js';
import type { GatewayMetrics } from './metrics.js';
import { readTlsMaterial, type LoadedTlsMaterial } from './tls-material.js';

type ReloadMetrics = Pick<GatewayMetrics, 'configReloads'>;

/** Reads and validates the configuration file; undefined (logged and counted) when it is not usable. */
export function loadReloadedConfig(
  configFile: string,
  logger: Logger,
  metrics: ReloadMetrics,
): GatewayConfig | undefined {
  const loaded = loadConfig(configFile, gatewayConfigSchema, { envPrefix: GATEWAY_ENV_PREFIX });
  if (loaded.ok) return loaded.config;
  metrics.configReloads.labels('config', 'failure').inc();
  logger.error(
    { event: 'config_reload', result: 'failure', problems: loaded.problems },
    'configuration reload refused; the running configuration stays',
  );
  return undefined;
}

/** Applies a validated configuration through `apply`; counts and logs the outcome. */
export function applyReloadedConfig(apply: () => void, logger: Logger, metrics: ReloadMetrics): boolean {
  try {
    apply();
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

function fingerprintOf(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        return readFileSync(f, 'utf8');
      } catch (err) {
        return `unreadable:${(err as NodeJS.ErrnoException).code ?? ''}`;
      }
    })
    .join('\0');
}

export interface CertificateWatch extends FileWatch {
  /** Checks the files now (the watch calls this on every change notice). */
  check(): void;
  /** Points the watch at other files (after a configuration reload changed tls.*). */
  retarget(tls: GatewayConfig['tls']): void;
}

/**
 * Watches tls.cert, tls.key and tls.clientCa. When their contents change, the new material is validated
 * (parse, key matches certificate, OpenSSL accepts it) and handed to `use`; a broken set is reported once
 * per distinct content and the material in use stays.
 */
export function watchCertificates(
  initialTls: GatewayConfig['tls'],
  use: (material: LoadedTlsMaterial) => void,
  logger: Logger,
  metrics: ReloadMetrics,
  options: { debounceMs?: number; pollSeconds?: number } = {},
): CertificateWatch {
  let tls = initialTls;
  const filesOf = (t: GatewayConfig['tls']) => [t.cert, t.key, t.clientCa];
  let current = fingerprintOf(filesOf(tls));
  let lastFailed = '';
  const check = () => {
    const seen = fingerprintOf(filesOf(tls));
    if (seen === current || seen === lastFailed) return;
    try {
      const material = readTlsMaterial(tls);
      use(material);
      current = seen;
      lastFailed = '';
      metrics.configReloads.labels('certificates', 'success').inc();
      logger.info(
        { event: 'certificate_reload', result: 'success', expiries: material.expiries },
        'TLS certificates reloaded; new connections use them',
      );
    } catch (err) {
      lastFailed = seen;
      metrics.configReloads.labels('certificates', 'failure').inc();
      logger.error(
        { event: 'certificate_reload', result: 'failure', err: (err as Error).message },
        'new TLS files refused; the current certificates keep serving',
      );
    }
  };
  let watch = watchFiles(filesOf(tls), check, options);
  return {
    check,
    retarget(next) {
      tls = next;
      current = fingerprintOf(filesOf(tls));
      lastFailed = '';
      watch.close();
      watch = watchFiles(filesOf(tls), check, options);
    },
    close: () => watch.close(),
  };
}
