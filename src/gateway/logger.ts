/**
 * pino JSON logs. Request lines carry ids, outcome and timing only: tokens, certificates and header
 * values are never passed to the logger (the redact list is a second line of defence).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export function createGatewayLogger(level: LevelWithSilent, name = 'fapi-gateway'): Logger {
  return pino(
    {
      name,
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['token', 'authorization', 'headers.authorization', 'cert', 'key'],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 1, sync: false }),
  );
}
