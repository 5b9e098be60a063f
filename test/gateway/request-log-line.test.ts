import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { requestLineWriter, type RequestLine } from '../../src/gateway/logger.js';

function capture(options: pino.LoggerOptions): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(l);
      cb();
    },
  });
  return { logger: pino(options, sink), lines };
}

const LINES: RequestLine[] = [
  {
    interactionId: 'c0a8e1e4-3b1f-4f2a-9c51-6f1d7e1a2b3c',
    method: 'GET',
    route: '/accounts',
    outcome: 'forwarded',
    status: 200,
    latencyMs: 1.3,
    clientId: 'client "a" \\ \u2028 é',
    thumbprint: 'p4Jj3vVbW1m0hC8eX5VqK8yC1n1Wq0mC5b2oGkq9u0Y',
  },
  {
    interactionId: 'x',
    method: 'POST',
    route: '/payments',
    outcome: 'forwarded',
    decision: 'would_reject',
    reason: 'insufficient_scope',
    wouldReject: ['insufficient_scope', 'binding_mismatch'],
    status: 201,
    latencyMs: 0,
  },
  { interactionId: 'y', route: 'unmatched', outcome: 'rejected', reason: 'malformed_request', status: 400 },
  {
    interactionId: 'z',
    route: '/a',
    outcome: 'upstream_error',
    upstreamError: 'timeout',
    status: 504,
    latencyMs: 30000.1,
  },
];

t.test('the per-request line is byte for byte what pino writes for the same fields', (t) => {
  const fixedTime = () => ',"time":"2026-12-03T10:00:00.000Z"';
  const options: pino.LoggerOptions = { name: 'fapi-gateway', base: { pid: 42 }, timestamp: fixedTime };
  const viaPino = capture(options);
  const direct = capture(options);
  const write = requestLineWriter(direct.logger);
  for (const line of LINES) {
    viaPino.logger.info(line, 'request');
    write(line);
  }
  t.same(direct.lines, viaPino.lines);
  for (const l of direct.lines) t.equal((JSON.parse(l) as { msg: string }).msg, 'request');
  t.end();
});

t.test('a child logger keeps its bindings; a disabled level writes nothing', (t) => {
  const { logger, lines } = capture({ base: { pid: 1 }, timestamp: false });
  requestLineWriter(logger.child({ worker: 2 }))(LINES[2]!);
  t.same(JSON.parse(lines[0]!), { level: 30, pid: 1, worker: 2, ...LINES[2], msg: 'request' });
  logger.level = 'warn';
  requestLineWriter(logger)(LINES[2]!);
  t.equal(lines.length, 1);
  t.end();
});

t.test('a logger with its own formatters or mixin goes through pino', (t) => {
  const { logger, lines } = capture({ timestamp: false, base: {}, mixin: () => ({ extra: true }) });
  requestLineWriter(logger)(LINES[3]!);
  t.equal((JSON.parse(lines[0]!) as { extra: boolean }).extra, true);
  t.end();
});
