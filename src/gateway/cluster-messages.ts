/** The IPC messages between the cluster primary and its gateway workers. */
import type { GatewayConfig } from './config.js';
import type { LoadedTlsMaterial } from './tls-material.js';

export type PrimaryMessage =
  | { type: 'fapi:config'; config: GatewayConfig }
  | { type: 'fapi:metrics-request'; id: number }
  | { type: 'fapi:reload-config'; id: number; config: GatewayConfig }
  | { type: 'fapi:use-tls'; material: LoadedTlsMaterial };

export type WorkerMessage =
  | { type: 'fapi:want-config' }
  | { type: 'fapi:listening'; port: number }
  | { type: 'fapi:ready' }
  /** The worker started stopping (a signal it received itself): the gateway is no longer ready. */
  | { type: 'fapi:stopping' }
  | { type: 'fapi:metrics'; id: number; metrics: object[] }
  | { type: 'fapi:reload-result'; id: number; ok: boolean; error?: string }
  | { type: 'fapi:start-failed'; error: string };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof (m as { type?: unknown }).type === 'string' &&
    (m as { type: string }).type.startsWith('fapi:')
  );
}

export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return isWorkerMessage(m);
}
