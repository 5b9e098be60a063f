/**
 * pino JSON logs. Request lines carry ids, outcome and timing only: tokens, certificates and header
 * values are never passed to the logger (the redact list is a second line of defence).
 */
import type { Logger, LevelWithSilent } from 'pino';
import { createBatchedLogger } from '../log/batched-logger.js';

export function createGatewayLogger(level: LevelWithSilent, name = 'fapi-gateway'): Logger {
  return createBatchedLogger({
    name,
    level,
    base: { pid: process.pid },
    sync: true,
    redact: ['token', 'authorization', 'headers.authorization', 'cert', 'key'],
    // Only per-request lines are batched: operational events (start, reload, drain, worker exits) and
    // warnings are rare, and operators and supervisors wait for them, so they are written at once.
    writeNow(level, args) {
      const first = args[0];
      return level >= 40 || (typeof first === 'object' && first !== null && 'event' in first);
    },
  });
}
