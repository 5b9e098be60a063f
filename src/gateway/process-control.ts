/**
 * What the single-process gateway (run.ts) and the cluster primary (cluster.ts) share: how many workers
 * the configuration asks for, and the signals that stop or reload the process.
 */
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config.js';

export function workerCount(workers: GatewayConfig['workers']): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/** Resolves with the first of SIGTERM/SIGINT; SIGHUP calls `onHangup` meanwhile. */
export function untilStopSignal(logger: Logger, onHangup: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ event: 'signal', signal }, `received ${signal}`);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.off('SIGHUP', onHangup);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', onHangup);
  });
}
