/**
 * The Redis connection settings, one schema for every place the product talks to Redis: the issuer's
 * `storage.redis` and the gateway's `dpop.replayStore`. A password is never written in the file: it comes
 * from `passwordFile` (a mounted Secret) or from an environment variable named after the key
 * (`FAPI_ISSUER_STORAGE_REDIS_PASSWORD`, `FAPI_GATEWAY_DPOP_REPLAY_STORE_PASSWORD`).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { filePath } from '../config/schema-walk.js';

const EXAMPLE = 'rediss://redis.bank.internal:6380/0';

/** Why a Redis URL is refused, or undefined when it is usable. */
export function redisUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `is not a URL; use redis://HOST:PORT/DB or rediss://HOST:PORT/DB (TLS), e.g. ${EXAMPLE}`;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    return `must start with redis:// or rediss:// (TLS), e.g. ${EXAMPLE} (got ${url.protocol}//)`;
  if (url.hostname === '') return `names no host, e.g. ${EXAMPLE}`;
  if (url.password !== '' || url.username !== '')
    return 'must not carry credentials: set username, and passwordFile or the password environment variable';
  if (url.search !== '' || url.hash !== '') return 'must not carry a query or fragment';
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/(?:[0-9]|1[0-5])$/.test(url.pathname))
    return 'the path is the database number, /0 to /15';
  return undefined;
}

const redisUrl = z
  .string()
  .superRefine((value, ctx) => {
    const problem = redisUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  // The same rule for values.schema.json (helm refuses what check-config refuses).
  .meta({ pattern: '^rediss?://[^/?#@\\s]+(/([0-9]|1[0-5]))?/?$' })
  .describe(`redis://HOST:PORT/DB, or rediss:// for TLS (e.g. ${EXAMPLE}).`);

/** The connection keys; `keyPrefix` defaults differ per component so one Redis can serve both. */
export function redisConnectionFields(defaultKeyPrefix: string) {
  return {
    url: redisUrl,
    ca: filePath('PEM CA bundle trusted for rediss:// (default: the system CAs).').optional(),
    username: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Redis ACL user (AUTH username password); the password comes from passwordFile or the environment.',
      ),
    passwordFile: filePath(
      'File holding the Redis password (e.g. a mounted Secret); trailing newlines are ignored.',
    ).optional(),
    keyPrefix: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .default(defaultKeyPrefix)
      .describe('Every key is written under this prefix, so one Redis can serve several installations.'),
    connectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(2000)
      .describe('Time allowed to open a connection (TCP + TLS + AUTH) before retrying with backoff.'),
    commandTimeoutMs: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .default(1000)
      .describe('A command without an answer in this time fails (503) and the connection is reopened.'),
  };
}

function refineConnection(
  value: { url: string; ca?: string | undefined },
  ctx: z.RefinementCtx,
  urlPath: (string | number)[] = [],
): void {
  if (value.ca !== undefined && redisUrlProblem(value.url) === undefined && !value.url.startsWith('rediss:'))
    ctx.addIssue({
      code: 'custom',
      path: [...urlPath, 'ca'],
      message: 'only used with a rediss:// URL (TLS); use rediss:// or remove ca',
    });
}

/** The issuer's `storage.redis`. */
export const redisConnectionSchema = z
  .object(redisConnectionFields('fapi-issuer:'))
  .strict()
  .superRefine((v, ctx) => refineConnection(v, ctx))
  .describe('The Redis (or Valkey) server shared by every replica.');

export type RedisConnectionConfig = z.output<typeof redisConnectionSchema>;

export const REPLAY_STORE_TYPES = ['memory', 'redis'] as const;

/**
 * The gateway's `dpop.replayStore`: `memory` (one process) or `redis` (shared by every replica, so a
 * DPoP proof accepted by one replica is refused by the others, RFC 9449 §11.1).
 */
export const replayStoreSchema = z
  .object({
    type: z
      .enum(REPLAY_STORE_TYPES)
      .default('memory')
      .describe('memory: one process only; redis: shared by every replica (needed with more than one).'),
    maxEntries: z
      .number()
      .int()
      .min(1000)
      .max(10_000_000)
      .default(100_000)
      .describe(
        'memory only: proofs remembered at once; when all are live, new proofs are refused with 503.',
      ),
    ...redisConnectionFields('fapi-gateway:'),
    url: redisUrl.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.type === 'redis' && v.url === undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'required when type is redis' });
    if (v.type === 'memory' && v.url !== undefined)
      ctx.addIssue({ code: 'custom', path: ['type'], message: 'set type: redis to use url' });
    if (v.url !== undefined) refineConnection({ url: v.url, ca: v.ca }, ctx);
  })
  .describe('Where DPoP proof jti values are remembered until they expire.');

export type ReplayStoreConfig = z.output<typeof replayStoreSchema>;

/** The settings a connection needs, from either schema (`url` present). */
export type RedisSettings = Omit<RedisConnectionConfig, 'url'> & { url: string };

/** The replay store's Redis settings, or undefined for the memory store. */
export function replayStoreRedisSettings(config: ReplayStoreConfig): RedisSettings | undefined {
  if (config.type !== 'redis' || config.url === undefined) return undefined;
  return { ...config, url: config.url };
}

/**
 * The password: the file's content (without trailing newlines), else the environment variable, else
 * none. Read at start only; a rotated password takes effect at the next start (a rolling restart).
 */
export function redisPassword(
  settings: Pick<RedisSettings, 'passwordFile'>,
  envName: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (settings.passwordFile !== undefined)
    return readFileSync(settings.passwordFile, 'utf8').replace(/[\r\n]+$/, '');
  const fromEnv = env[envName];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}
