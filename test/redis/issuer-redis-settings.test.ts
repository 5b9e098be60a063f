/**
 * The issuer's `storage.redis` settings at start-up, and what a Redis outage looks like to its clients:
 * 503 JSON at the token endpoint, a plain error page on the browser pages, /readyz 503, and service again
 * when Redis is back. The storage here is the memory store gated by a real Redis connection (every store
 * operation first makes a round trip), so the outage is real while the store contract stays the memory one.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { issuerConfigSchema, ISSUER_ENV_PREFIX, type ClientConfig } from '../../src/issuer/config.js';
import { createIssuerMetrics } from '../../src/issuer/metrics.js';
import { connectIssuerRedis, ISSUER_REDIS_PASSWORD_ENV } from '../../src/issuer/redis-connection.js';
import { createMemoryStorage } from '../../src/issuer/storage/memory-store.js';
import type { IssuerStorage } from '../../src/issuer/storage/store.js';
import type { RedisConnection } from '../../src/redis/connection.js';
import { runCli } from '../helpers/cli.js';
import { startCodeFlowIssuer, WEB_CLIENT_ID } from '../helpers/code-flow.js';
import { ASSERTION_TYPE, clientAssertion } from '../helpers/issuer.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { testPki } from '../helpers/pki.js';
import { startRedisServer } from '../helpers/redis-server.js';

async function issuerFile(storage: Record<string, unknown>): Promise<string> {
  const pki = await testPki();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const id = randomBytes(4).toString('hex');
  const key = path.join(pki.dir, `sk-${id}.pem`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const file = path.join(pki.dir, `issuer-${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      issuer: 'https://localhost:0',
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
      signingKeys: [{ file: key, alg: 'PS256', kid: 'k1' }],
      accessTokens: { audience: 'https://api.example' },
      storage,
    }),
  );
  return file;
}

t.test('check-config and the issuer name the Redis key that is wrong', async (t) => {
  const bad = await issuerFile({ type: 'redis', redis: { url: 'redis.internal:6379' } });
  const check = await runCli(['check-config', bad, '--kind', 'issuer']);
  t.equal(check.code, 1);
  t.match(check.stdout, /storage\.redis\.url: must start with redis:\/\/ or rediss:\/\//);

  const start = await runCli(['issuer', '--config', bad]);
  t.not(start.code, 0, 'refuses to start');
  t.match(start.stderr + start.stdout, /storage\.redis\.url/);

  const missing = await issuerFile({ type: 'redis' });
  t.match(
    (await runCli(['check-config', missing, '--kind', 'issuer'])).stdout,
    /storage\.redis\.url: required/,
  );

  const noCa = await issuerFile({ type: 'redis', redis: { url: 'rediss://r:6380', ca: 'nope.pem' } });
  t.match(
    (await runCli(['check-config', noCa, '--kind', 'issuer'])).stdout,
    /storage\.redis\.ca: file not found/,
  );

  const inline = await issuerFile({ type: 'redis', redis: { url: 'redis://r', password: 'x' } });
  t.match(
    (await runCli(['check-config', inline, '--kind', 'issuer'])).stdout,
    /storage\.redis\.password: unknown key/,
    'a password in the file is refused',
  );
});

t.test(
  'the URL can come from FAPI_ISSUER_STORAGE_REDIS_URL, the password from the environment',
  async (t) => {
    const file = await issuerFile({ type: 'redis' });
    const env = { [`${ISSUER_ENV_PREFIX}STORAGE_REDIS_URL`]: 'rediss://redis.internal:6380/2' };
    const loaded = loadConfig(file, issuerConfigSchema, { envPrefix: ISSUER_ENV_PREFIX, env });
    t.ok(loaded.ok);
    if (!loaded.ok) return;
    t.equal(loaded.config.storage.redis?.url, 'rediss://redis.internal:6380/2');
    t.equal(loaded.config.storage.redis?.keyPrefix, 'fapi-issuer:');
    t.equal(ISSUER_REDIS_PASSWORD_ENV, 'FAPI_ISSUER_STORAGE_REDIS_PASSWORD');
    const check = await runCli(['check-config', file, '--kind', 'issuer'], {
      FAPI_ISSUER_STORAGE_REDIS_URL: 'http://redis.internal',
    });
    t.match(check.stdout, /storage\.redis\.url: must start with redis:\/\//);
  },
);

/** The memory store, but every operation needs a Redis round trip first (so it fails as a Redis store does). */
function redisGated(memory: IssuerStorage, redis: RedisConnection): IssuerStorage {
  const gate = <T extends object>(part: string, target: T): T =>
    new Proxy(target, {
      get(obj, name, receiver) {
        const value: unknown = Reflect.get(obj, name, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]): Promise<unknown> => {
          await redis.run(`${part}.${String(name)}`, (r) => r.ping());
          return (value as (...a: unknown[]) => unknown).apply(obj, args);
        };
      },
    });
  return {
    clients: memory.clients,
    state: gate('state', memory.state),
    replay: gate('replay', memory.replay),
    counters: gate('counters', memory.counters),
    attempts: gate('attempts', memory.attempts),
    grants: gate('grants', memory.grants),
    refreshTokens: gate('refresh', memory.refreshTokens),
    accessTokens: gate('access', memory.accessTokens),
    healthy: () => Promise.resolve(redis.available),
    close: async () => {
      await redis.close();
      await memory.close();
    },
  };
}

t.test(
  'Redis down: token endpoint 503 temporarily_unavailable, pages 503, /readyz 503, then back',
  async (t) => {
    const server = await startRedisServer();
    t.teardown(() => server.close());
    const metrics = createIssuerMetrics();
    const config = issuerConfigSchema.parse({
      issuer: 'https://localhost:0',
      tls: { cert: 'x', key: 'x', clientCa: 'x' },
      signingKeys: [{ file: 'x', alg: 'PS256', kid: 'k' }],
      accessTokens: { audience: 'a' },
      storage: { type: 'redis', redis: { url: server.url, commandTimeoutMs: 500 } },
    });
    const redis = connectIssuerRedis(config, metrics, pino({ level: 'silent' }));
    if (!redis) throw new Error('no connection');
    t.ok(await redis.whenAvailable(10_000));
    // The clients come from the issuer's configuration, known once it runs.
    let clients: ClientConfig[] = [];
    const memory = createMemoryStorage({ clients: [], clock: Date.now });
    const storage: IssuerStorage = {
      ...redisGated(memory, redis),
      clients: {
        findClient: (id) => Promise.resolve(clients.find((c) => c.clientId === id)),
        allClients: () => Promise.resolve(clients),
      },
    };
    const ti = await startCodeFlowIssuer({ options: { storage: () => storage } });
    t.teardown(() => ti.close());
    clients = ti.config.clients;
    const adminPort = ti.issuer.adminPort!;

    const token = async () =>
      ti.postForm(
        '/token',
        {
          grant_type: 'client_credentials',
          client_id: 'jwt-client',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await clientAssertion({
            clientId: 'jwt-client',
            audience: ti.issuer.url,
            key: ti.jwtClient.privateKey,
            kid: ti.jwtClient.publicJwk.kid,
          }),
          scope: 'accounts',
        },
        { credential: ti.pki.clientA },
      );
    t.equal((await token()).status, 200, 'works while Redis is up');
    const pushed = await ti.par(await ti.requestObject());
    t.equal(pushed.status, 201);
    const authorize = `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(String(pushed.json.request_uri))}`;
    t.equal((await fetchText(adminPort, '/readyz')).status, 200);

    await server.stop();
    const refused = await token();
    t.equal(refused.status, 503);
    t.equal(refused.json.error, 'temporarily_unavailable');
    t.equal(refused.headers['cache-control'], 'no-store');
    t.equal(refused.headers['retry-after'], '2');
    const page = await ti.get(authorize);
    t.equal(page.status, 503, 'a browser page answers 503');
    t.match(page.headers['content-type'], /text\/html/);
    t.match(page.text, /temporarily_unavailable/);
    t.equal((await fetchText(adminPort, '/readyz')).status, 503, 'not ready while Redis is down');
    const text = await metrics.registry.metrics();
    t.equal(metricValue(text, 'fapi_issuer_redis_connected'), 0);
    t.equal(metricValue(text, 'fapi_issuer_redis_outages_total'), 1);
    t.ok((metricValue(text, 'fapi_issuer_redis_command_errors_total', { kind: 'unavailable' }) ?? 0) >= 2);
    const issuerText = (await fetchText(adminPort, '/metrics')).body;
    t.equal(
      metricValue(issuerText, 'fapi_issuer_failures_total', {
        endpoint: 'token',
        reason: 'store_unavailable',
      }),
      1,
    );

    await server.start();
    const start = Date.now();
    while ((await fetchText(adminPort, '/readyz')).status !== 200) {
      if (Date.now() - start > 20_000) throw new Error('not ready again after 20 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    t.equal((await token()).status, 200, 'serves again without a restart');
    const resumed = await ti.get(authorize);
    t.equal(resumed.status, 200, 'the request_uri refused during the outage was not spent');
    t.match(resumed.text, /<form/);
  },
);
