/**
 * The issuer's pino logger. Lines name clients, methods and outcomes, never tokens, assertions, secrets
 * or certificates. The lines logged for every token request are batched (src/log/batched-logger.ts);
 * every other line (start-up, revocations, sign-ins, warnings) is written at once.
 */
import type { Logger, LevelWithSilent } from 'pino';
import { createBatchedLogger } from '../log/batched-logger.js';

export const TOKEN_ISSUED = 'token issued';
export const REQUEST_REFUSED = 'request refused';

const PER_REQUEST: ReadonlySet<unknown> = new Set([TOKEN_ISSUED, REQUEST_REFUSED]);

export function createIssuerLogger(level: LevelWithSilent): Logger {
  return createBatchedLogger({
    level,
    base: { component: 'issuer' },
    // The bench's (i2) stalled for seconds with synchronous writes into a pipe its reader drained late.
    sync: false,
    writeNow: (lvl, args) => lvl >= 40 || !PER_REQUEST.has(typeof args[0] === 'string' ? args[0] : args[1]),
  });
}

/**
 * A child logger with the client's fields bound, made once per client, grant type and method: pino
 * serialises bindings when the child is made, not on every line. Registered clients and grant types are
 * finite, so the cache is bounded by the configuration.
 */
const children = new WeakMap<Logger, Map<string, Logger>>();

export function clientLogger(log: Logger, clientId: string, grantType: string, authMethod: string): Logger {
  let byClient = children.get(log);
  if (!byClient) {
    byClient = new Map();
    children.set(log, byClient);
  }
  const key = `${clientId}\n${grantType}\n${authMethod}`;
  let child = byClient.get(key);
  if (!child) {
    child = log.child({ clientId, grantType, authMethod });
    byClient.set(key, child);
  }
  return child;
}
