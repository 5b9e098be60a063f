/**
 * pino JSON logs to stdout, written synchronously in batches. One write per request line was ~15% of the
 * gateway's CPU under load (npm run bench --profile), ~7% of the issuer's per token; asynchronous writes
 * cost a thread-pool hand-off each (~10% more than synchronous 4 KiB writes in the same bench run).
 * Synchronous writes of whole batches are pino's own default mode; pino flushes what is buffered when
 * the process exits, and a timer flushes a quiet process's lines.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Log lines are written in batches of this many bytes (one write per ~15 request lines, not one each). */
const LOG_BUFFER_BYTES = 4096;
/** A quiet process's buffered lines still reach the log within this long. */
const LOG_FLUSH_INTERVAL_MS = 1000;

export interface BatchedLoggerOptions {
  level: LevelWithSilent;
  name?: string;
  /** Fields of every line (pino's `base`). */
  base: Record<string, unknown>;
  /**
   * Synchronous writes (the gateway) block the event loop while stdout is a full pipe: sonic-boom sleeps
   * 100 ms per EAGAIN. Asynchronous writes (the issuer) retry from a timer instead.
   */
  sync: boolean;
  /** Paths censored if a caller ever passes them (a second line of defence). */
  redact?: string[];
  /**
   * Lines written at once rather than batched: operational events and warnings, which operators and
   * supervisors wait for. `args` are the logging call's arguments.
   */
  writeNow(level: number, args: readonly unknown[]): boolean;
}

/**
 * pino's isoTime, formatted once per millisecond: under load a dozen request lines share one timestamp
 * string instead of each building a Date and its ISO form.
 */
function isoTimeOncePerMs(): () => string {
  let lastMs = -1;
  let field = '';
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      field = `,"time":"${new Date(now).toISOString()}"`;
    }
    return field;
  };
}

export function createBatchedLogger(options: BatchedLoggerOptions): Logger {
  const destination = pino.destination({ dest: 1, sync: options.sync, minLength: LOG_BUFFER_BYTES });
  setInterval(() => {
    // With a callback, flush reports a destroyed stream instead of throwing.
    destination.flush(() => undefined);
  }, LOG_FLUSH_INTERVAL_MS).unref();
  const writeNow = (level: number, args: readonly unknown[]) => options.writeNow(level, args);
  return pino(
    {
      ...(options.name !== undefined && { name: options.name }),
      level: options.level,
      base: options.base,
      ...(options.redact && { redact: { paths: options.redact, censor: '[redacted]' } }),
      timestamp: isoTimeOncePerMs(),
      hooks: {
        logMethod(args, method, level) {
          method.apply(this, args);
          if (writeNow(level, args)) destination.flush(() => undefined);
        },
      },
    },
    destination,
  );
}
