/**
 * pino JSON logs. Request lines carry ids, outcome and timing only: tokens, certificates and header
 * values are never passed to the logger (the redact list is a second line of defence).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
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

/** The fields of one per-request line (see request-handler.ts); undefined fields are left out, as pino does. */
export interface RequestLine {
  interactionId: string;
  method?: string;
  route: string;
  outcome: string;
  decision?: string;
  reason?: string;
  wouldReject?: readonly string[];
  upstreamError?: string;
  status: number;
  latencyMs?: number;
  clientId?: string;
  thumbprint?: string;
}

type PinoInternals = Record<symbol, unknown>;

const str = JSON.stringify;

/**
 * Writes the per-request line through the logger's own destination, timestamp and bindings, with the
 * same JSON pino would produce for `logger.info(fields, 'request')`. pino's generic path (hooks, key
 * loop, serializer and redaction lookups per field) cost ~2 µs of a request's CPU; this line has a fixed
 * set of fields, none of which carries a token, certificate or header value. A logger with its own
 * formatters, mixin or message key gets the generic path.
 */
export function requestLineWriter(logger: Logger): (line: RequestLine) => void {
  const internals = logger as unknown as PinoInternals;
  const { streamSym, timeSym, chindingsSym, mixinSym, messageKeySym, formattersSym, lsCacheSym } =
    pino.symbols;
  const stream = internals[streamSym] as { write(s: string): unknown } | undefined;
  const time = internals[timeSym] as (() => string) | undefined;
  const levelPrefix = (internals[lsCacheSym] as Record<number, string> | undefined)?.[30];
  const formatters = internals[formattersSym] as { log?: unknown } | undefined;
  const generic =
    typeof stream?.write !== 'function' ||
    typeof time !== 'function' ||
    typeof levelPrefix !== 'string' ||
    typeof internals[chindingsSym] !== 'string' ||
    internals[mixinSym] !== undefined ||
    internals[messageKeySym] !== 'msg' ||
    formatters?.log !== undefined;
  if (generic) return (line) => logger.info(line, 'request');
  return (l) => {
    if (!logger.isLevelEnabled('info')) return;
    let s = `${levelPrefix}${time()}${internals[chindingsSym] as string},"interactionId":${str(l.interactionId)}`;
    if (l.method !== undefined) s += `,"method":${str(l.method)}`;
    s += `,"route":${str(l.route)},"outcome":${str(l.outcome)}`;
    if (l.decision !== undefined) s += `,"decision":${str(l.decision)}`;
    if (l.reason !== undefined) s += `,"reason":${str(l.reason)}`;
    if (l.wouldReject !== undefined) s += `,"wouldReject":${str(l.wouldReject)}`;
    if (l.upstreamError !== undefined) s += `,"upstreamError":${str(l.upstreamError)}`;
    s += `,"status":${l.status}`;
    if (l.latencyMs !== undefined) s += `,"latencyMs":${l.latencyMs}`;
    if (l.clientId !== undefined) s += `,"clientId":${str(l.clientId)}`;
    if (l.thumbprint !== undefined) s += `,"thumbprint":${str(l.thumbprint)}`;
    stream.write(`${s},"msg":"request"}\n`);
  };
}
