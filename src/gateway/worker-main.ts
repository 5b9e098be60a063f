/**
 * Entry point of a cluster worker (see cluster.ts): asks the primary for the configuration, runs one
 * gateway without an admin listener, answers metric scrapes and applies reloads the primary validated.
 * Signals: SIGTERM/SIGINT start the grace period and the drain, then exit 0 (later ones are ignored);
 * SIGHUP is the primary's business and is ignored here.
 */
import { isPrimaryMessage, type PrimaryMessage, type WorkerMessage } from './cluster-messages.js';
import type { GatewayConfig } from './config.js';
import { heapSettings } from '../cli/v8-heap.js';
import { createGatewayLogger } from './logger.js';
import { startGateway } from './server.js';

function send(m: WorkerMessage): void {
  process.send?.(m);
}

function nextConfig(): Promise<GatewayConfig> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (isPrimaryMessage(m) && m.type === 'fapi:config') {
        process.off('message', onMessage);
        resolve(m.config);
      }
    };
    process.on('message', onMessage);
    send({ type: 'fapi:want-config' });
  });
}

async function main(): Promise<void> {
  process.on('SIGHUP', () => undefined);
  const config = await nextConfig();
  const logger = createGatewayLogger(config.logging.level).child({ worker: true });
  logger.info({ event: 'v8_heap', ...heapSettings() }, 'V8 heap settings');
  let gateway;
  try {
    gateway = await startGateway(config, { logger, admin: false });
  } catch (err) {
    send({ type: 'fapi:start-failed', error: (err as Error).message });
    process.exit(2);
  }
  const g = gateway;
  let running = config;
  process.on('message', (m: unknown) => {
    if (!isPrimaryMessage(m)) return;
    const message: PrimaryMessage = m;
    switch (message.type) {
      case 'fapi:metrics-request':
        void g.metrics.registry
          .getMetricsAsJSON()
          .then((metrics) => send({ type: 'fapi:metrics', id: message.id, metrics }));
        break;
      case 'fapi:reload-config':
        try {
          g.reload(message.config);
          running = message.config;
          send({ type: 'fapi:reload-result', id: message.id, ok: true });
          // New token verifiers (another issuer, a changed CA bundle) are ready on their own time.
          void g.whenReady().then(() => send({ type: 'fapi:ready' }));
        } catch (err) {
          logger.error(
            { event: 'config_reload', err: (err as Error).message },
            'configuration reload failed',
          );
          send({ type: 'fapi:reload-result', id: message.id, ok: false, error: (err as Error).message });
        }
        break;
      case 'fapi:use-tls':
        g.useTlsMaterial(message.material);
        break;
      case 'fapi:config':
        break;
    }
  });
  send({ type: 'fapi:listening', port: g.listenPort });
  void g.whenReady().then(() => send({ type: 'fapi:ready' }));
  // Stopping starts once, whoever asks first: the primary (SIGTERM), a signal sent to the whole process
  // group (Ctrl-C, `kill -- -PGID`, systemd's control-group kill), or the primary's disappearance. The
  // handlers stay installed: a second signal must not end the worker by the default action mid-drain.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Before the grace period's first line: /readyz on the primary fails from now on.
    send({ type: 'fapi:stopping' });
    void g.close({ graceMs: running.shutdown.graceSeconds * 1000 }).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The primary is gone (killed without a drain): do not linger as an orphan holding the port.
  process.on('disconnect', stop);
}

void main();
