/**
 * Reloading without a restart, with one rule: validate first, and on any problem log it, count it in
 * `fapi_gateway_config_reloads_total{result="failure"}` and keep what is running.
 *  - configuration: on SIGHUP, the file is read and validated by the same schema as at start;
 *  - certificates: the TLS files are watched; new material is used for new connections, open connections
 *    keep theirs;
 *  - CA bundles: tokens.jwksCa and upstream.ca are watched; a change rebuilds the JWKS cache or the
 *    forwarder that uses it.
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

/**
 * `paused`: the contents are taken as the baseline now, and changes are applied only after `resume()`.
 * A watch is created before the gateway reads the files at start and resumed once it runs, so a file
 * replaced while the gateway starts is still picked up.
 */
export interface WatchOptions {
  debounceMs?: number;
  pollSeconds?: number;
  paused?: boolean;
}

/** How a content watch counts (`fapi_gateway_config_reloads_total{kind}`) and logs its outcomes. */
interface ContentWatchReport {
  kind: 'certificates' | 'ca_bundles';
  event: string;
  applied: string;
  refused: string;
  detail?: () => Record<string, unknown>;
}

/**
 * Watches `files` and calls `apply` when their contents change. A failed `apply` is reported once per
 * distinct content and what is in use stays; checks never overlap (a change seen during an asynchronous
 * apply is checked again when it ends).
 */
function watchContents(
  initialFiles: readonly string[],
  apply: () => void | Promise<void>,
  report: ContentWatchReport,
  logger: Logger,
  metrics: ReloadMetrics,
  options: WatchOptions,
): {
  check: () => void;
  resume: () => void;
  retarget: (files: readonly string[]) => void;
  close: () => void;
} {
  let files = initialFiles;
  let current = fingerprintOf(files);
  let lastFailed = '';
  let running: Promise<void> | undefined;
  let again = false;
  let paused = options.paused ?? false;
  const check = (): void => {
    if (running || paused) {
      again = true;
      return;
    }
    const seen = fingerprintOf(files);
    if (seen === current || seen === lastFailed) return;
    const applied = () => {
      current = seen;
      lastFailed = '';
      metrics.configReloads.labels(report.kind, 'success').inc();
      logger.info({ event: report.event, result: 'success', ...report.detail?.() }, report.applied);
    };
    const failed = (err: unknown) => {
      lastFailed = seen;
      metrics.configReloads.labels(report.kind, 'failure').inc();
      logger.error({ event: report.event, result: 'failure', err: (err as Error).message }, report.refused);
    };
    let result: void | Promise<void>;
    try {
      result = apply();
    } catch (err) {
      failed(err);
      return;
    }
    if (!(result instanceof Promise)) {
      applied();
      return;
    }
    running = result.then(applied, failed).finally(() => {
      running = undefined;
      if (again) {
        again = false;
        check();
      }
    });
  };
  let watch: FileWatch = watchFiles(files, check, options);
  return {
    check,
    resume() {
      if (!paused) return;
      paused = false;
      again = false;
      check();
    },
    retarget(next) {
      files = next;
      current = fingerprintOf(files);
      lastFailed = '';
      watch.close();
      watch = watchFiles(files, check, options);
    },
    close: () => watch.close(),
  };
}

export interface CertificateWatch extends FileWatch {
  /** Checks the files now (the watch calls this on every change notice). */
  check(): void;
  /** Starts applying changes of a watch created `paused` (and applies one seen meanwhile). */
  resume(): void;
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
  options: WatchOptions = {},
): CertificateWatch {
  const filesOf = (t: GatewayConfig['tls']) => [t.cert, t.key, t.clientCa];
  let tls = initialTls;
  let material: LoadedTlsMaterial | undefined;
  const watch = watchContents(
    filesOf(tls),
    () => {
      material = readTlsMaterial(tls);
      use(material);
    },
    {
      kind: 'certificates',
      event: 'certificate_reload',
      applied: 'TLS certificates reloaded; new connections use them',
      refused: 'new TLS files refused; the current certificates keep serving',
      detail: () => ({ expiries: material?.expiries }),
    },
    logger,
    metrics,
    options,
  );
  return {
    check: watch.check,
    resume: watch.resume,
    retarget(next) {
      tls = next;
      watch.retarget(filesOf(tls));
    },
    close: watch.close,
  };
}

export interface CaBundleWatch extends FileWatch {
  /** Checks the files now (the watch calls this on every change notice). */
  check(): void;
  /** Starts applying changes of a watch created `paused` (and applies one seen meanwhile). */
  resume(): void;
  /** Watches the bundles `config` names (after every configuration reload, which read them anew). */
  retarget(config: GatewayConfig): void;
}

/** The CA bundle files the gateway reads for its outgoing TLS connections. */
function caBundleFiles(config: GatewayConfig): string[] {
  const files: string[] = [];
  if (config.tokens.jwksCa !== undefined) files.push(config.tokens.jwksCa);
  if (config.upstream.ca !== undefined) files.push(config.upstream.ca);
  return files;
}

/**
 * Watches tokens.jwksCa and upstream.ca. When their contents change, `rebuild` applies the running
 * configuration again: the gateway compares the bundles' contents and replaces the JWKS cache or the
 * forwarder whose bundle changed (a CA rotation needs no SIGHUP). A bundle that cannot be read is
 * reported once per distinct content, and what is running stays.
 */
export function watchCaBundles(
  initial: GatewayConfig,
  rebuild: () => void | Promise<void>,
  logger: Logger,
  metrics: ReloadMetrics,
  options: WatchOptions = {},
): CaBundleWatch {
  const watch = watchContents(
    caBundleFiles(initial),
    rebuild,
    {
      kind: 'ca_bundles',
      event: 'ca_bundle_reload',
      applied: 'CA bundles changed on disk; JWKS and upstream connections use them',
      refused: 'changed CA bundles refused; the running ones stay',
    },
    logger,
    metrics,
    options,
  );
  return {
    check: watch.check,
    resume: watch.resume,
    retarget: (config) => watch.retarget(caBundleFiles(config)),
    close: watch.close,
  };
}
