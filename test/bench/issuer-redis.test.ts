// The bench's issuer on its Redis store (scenario i2-redis) must measure token issuance, not refusals
// nor a miscount: its two-replica target starts (its own redis-server, two issuer processes of the built
// CLI sharing it), each replica issues a certificate-bound token to a private_key_jwt client, an
// assertion used at one replica is refused at the other, and the counters the report divides read one
// Redis round trip per token request.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { assertionSigner, clientCredential, createIssuerFixture, postForm } from '../../bench/issuers.js';
import type { CoreLayout } from '../../bench/options.js';
import { createBenchPki } from '../../bench/pki.js';
import { callsPerRequest, commandCalls, readsPerRequest } from '../../bench/redis.js';
import { redisStoreChecks } from '../../bench/objectives.js';
import { summarize, type RoundResult } from '../../bench/report.js';
import { targetDefinitions, type Context } from '../../bench/targets.js';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

t.test("INFO commandstats: calls per command, the counters' own INFO left out", (t) => {
  const info =
    '# Commandstats\r\ncmdstat_set:calls=12,usec=40,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n' +
    'cmdstat_info:calls=7,usec=900\r\ncmdstat_evalsha:calls=3,usec=30\r\n';
  t.same(commandCalls(info), { set: 12, evalsha: 3 });
  t.same(callsPerRequest({ set: 12, evalsha: 3 }, { set: 112, evalsha: 53, get: 1 }, 100), {
    total: 1.51,
    byCommand: { set: 1, evalsha: 0.5, get: 0.01 },
  });
  t.same(callsPerRequest({}, { set: 5 }, 0), { total: 0, byCommand: {} }, 'no requests: nothing per request');
  t.equal(readsPerRequest(250, 1000), 0.25, 'pipelined: four requests per socket read');
  t.equal(readsPerRequest(5, 0), 0, 'no requests: no reads per request');
  const round = (rps: number, redisRoundTrips: number, redisCpuPercent: number): RoundResult => ({
    round: 0,
    requests: rps,
    seconds: 1,
    rps,
    latencyMs: { p50: 1, p99: 2, p999: 3, max: 4 },
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    driverCpuPercent: 10,
    cpuPercent: 50,
    peakRssMiB: 100,
    peakProcessRssMiB: 100,
    redisRoundTrips,
    redisCpuPercent,
  });
  const s = summarize([round(1000, 1.01, 2), round(1000, 1.02, 3), round(1000, 1.5, 4)]);
  t.equal(s.redisRoundTrips, 1.02, 'median round trips per token');
  t.equal(s.redisCpuUsPerRequest, 30, "Redis's CPU per token");

  const summaries = {
    'i2-redis': {
      issuer: summarize([round(1000, 0, 0)]),
      'issuer-redis': summarize([round(900, 1, 1)]),
      'issuer-redis-2': summarize([round(1500, 1, 2)]),
    },
  };
  t.same(
    redisStoreChecks(summaries).map((c) => [c.measured.split(' ')[0], c.met]),
    [
      ['0.90x', true],
      ['1.67x', true],
    ],
    'Redis / memory on one replica, then two replicas / one on Redis',
  );
  summaries['i2-redis']['issuer-redis'] = summarize([round(800, 1, 1)]);
  summaries['i2-redis']['issuer-redis-2'] = summarize([round(1200, 1, 2)]);
  t.same(
    redisStoreChecks(summaries).map((c) => [c.measured.split(' ')[0], c.met]),
    [
      ['0.80x', false],
      ['1.50x', false],
    ],
    'missed: the report says no',
  );
  t.end();
});

t.test('two issuer replicas sharing one Redis, as the bench starts them', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-bench-redis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await createBenchPki(dir);
  const issuer = await createIssuerFixture(pki, dir);
  const layout: CoreLayout = {
    cores: 1,
    pin: false,
    driver: undefined,
    servers: undefined,
    all: undefined,
    serverCoreCount: 1,
  };
  const ctx: Context = {
    options: {
      gatewayCli: cli,
      compareCli: undefined,
      compareNode: undefined,
      gatewayNode: process.execPath,
      gatewayNodeFlags: [],
      compareNodeFlags: undefined,
      memoryLimitMiB: 0,
    },
    pki,
    upstreamPort: 0,
    jwksUrl: 'https://127.0.0.1:1/jwks',
    introspectionUrl: undefined,
    runDir: dir,
    layout,
    token: '',
    dpopHeaders: () => Promise.resolve({}),
    profileDir: undefined,
    issuer,
  };
  const def = targetDefinitions(ctx).find((d) => d.id === 'issuer-redis-2')!;
  const started = await def.start();
  t.teardown(() => started.running.stop());
  t.equal(started.urls?.length, 2, 'the load is spread over two token endpoints');
  t.equal(started.pids?.length, 2, 'the CPU of both replicas is sampled');
  const redis = started.redis!;
  t.ok(redis, 'the target has its Redis counters');

  const [first, second] = started.urls!;
  const forms = assertionSigner(issuer)(3);
  const post = (url: string, form: string) => postForm(url, form, clientCredential(issuer), pki.files.caCert);
  const callsBefore = await redis.calls();
  const readsBefore = await redis.reads();
  const requestsBefore = await redis.tokenRequests();
  const one = await post(first!, forms[0]!);
  const two = await post(second!, forms[1]!);
  t.equal(one.status, 200, 'replica 1 issues a token');
  t.equal(two.status, 200, 'replica 2 issues a token');
  t.same(
    decodeJwt(String(two.json.access_token)).cnf,
    { 'x5t#S256': pki.clientThumbprint },
    'bound to the client certificate',
  );
  const callsAfter = await redis.calls();
  const readsAfter = await redis.reads();
  const requestsAfter = await redis.tokenRequests();
  t.equal(requestsAfter - requestsBefore, 2, "the replicas' own count of token requests");
  t.equal((callsAfter.set ?? 0) - (callsBefore.set ?? 0), 2, "one SET NX per token: the assertion's jti");
  // One at a time, each request's command is a read of its own (plus the counters' INFO reads).
  t.ok(readsAfter - readsBefore >= 3, `Redis counts its socket reads (${readsAfter - readsBefore})`);

  const replay = await post(second!, forms[0]!);
  t.equal(replay.status, 401, 'an assertion used at replica 1 is refused at replica 2');
  t.equal(replay.json.error, 'invalid_client');
});
