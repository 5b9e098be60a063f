/**
 * One issuer replica as its own process (started by test/helpers/issuer-replica.ts with the test loader),
 * so a test can SIGKILL it. Reads `{ config, redisUrl, ciba }` from the JSON file named by argv[2]; logs
 * JSON lines on stdout, the first with `msg: "replica started"` and its URLs.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { issuerConfigSchema } from '../../src/issuer/config.js';
import { createIssuerMetrics } from '../../src/issuer/metrics.js';
import { startIssuer, type IssuerOptions } from '../../src/issuer/server.js';
import { redisConnectionSchema } from '../../src/redis/config.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { redisMetrics } from '../../src/redis/metrics.js';

interface ReplicaInput {
  config: Record<string, unknown>;
  /** A Redis for the CIBA delivery queue only (the storage stays this process's memory). */
  redisUrl?: string;
  ciba?: IssuerOptions['ciba'];
}

const input = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ReplicaInput;
const config = issuerConfigSchema.parse(input.config);
const log = pino({ level: 'info', base: { pid: process.pid } });
const redis =
  input.redisUrl === undefined
    ? undefined
    : new RedisConnection({
        settings: { ...redisConnectionSchema.parse({ url: input.redisUrl }), url: input.redisUrl },
        configKey: 'storage.redis',
        connectionName: 'fapi-issuer',
        log,
        metrics: redisMetrics(createIssuerMetrics().registry, 'fapi_issuer_'),
      });
const issuer = await startIssuer(config, {
  logger: log,
  ...(redis && { redis }),
  ...(input.ciba && { ciba: input.ciba }),
});
log.info({ url: issuer.url, mtlsUrl: issuer.mtlsUrl, adminPort: issuer.adminPort }, 'replica started');
process.on('SIGTERM', () => {
  void issuer.close().then(() => process.exit(0));
});
