/**
 * The chart and Redis: several issuer replicas only with a shared store, the Redis URL and password
 * from a Secret into the pod's environment (never into the configuration Secret), a private CA mounted
 * where the rendered configuration points, and the FapiRedisUnavailable alert.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml, stringify } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { allOnValues, chartDir, find, helm, renderChart, RELEASE } from '../helpers/helm.js';
import { promtool } from '../helpers/promtool.js';

const fixture = fileURLToPath(new URL('./fixtures/redis-rule-tests.yaml', import.meta.url));

const ISSUER = `${RELEASE}-fapi-gateway-issuer`;
const REDIS_ISSUER = [
  'issuer.enabled=true',
  'issuer.replicaCount=3',
  'issuer.config.storage.type=redis',
  'redis.existingSecret=fapi-redis',
];

t.test('the issuer runs several replicas only on Redis, and Redis needs its Secret', async (t) => {
  const refusals: [string, string[], RegExp][] = [
    [
      'three in-memory issuers',
      ['issuer.enabled=true', 'issuer.replicaCount=3'],
      /issuer\.replicaCount > 1 needs issuer\.config\.storage\.type: redis/,
    ],
    [
      'Redis storage without a Secret',
      ['issuer.enabled=true', 'issuer.config.storage.type=redis'],
      /issuer\.config\.storage\.type: redis needs redis\.existingSecret/,
    ],
    [
      'a CA path the chart owns',
      [...REDIS_ISSUER, 'issuer.config.storage.redis.url=redis://r', 'issuer.config.storage.redis.ca=/x.pem'],
      /storage\/redis|additional properties 'ca'/,
    ],
    [
      'a Redis URL that is not one',
      ['issuer.enabled=true', 'issuer.config.storage.type=redis', 'issuer.config.storage.redis.url=http://r'],
      /storage\/redis\/url|pattern/,
    ],
  ];
  for (const [what, set, expected] of refusals) {
    const h = await helm(['template', RELEASE, chartDir, ...set.flatMap((s) => ['--set', s])]);
    t.not(h.code, 0, `${what}: refused`);
    t.match(h.stderr, expected, what);
  }
});

t.test(
  'URL and password come from the Secret; a private CA is mounted where the config points',
  async (t) => {
    const manifests = await renderChart(
      [],
      [...REDIS_ISSUER, 'redis.caKey=ca.crt', 'redis.issuer.username=fapi-issuer'],
    );
    const deployment = find(manifests, 'Deployment', ISSUER) as unknown as IDeployment;
    t.equal(deployment.spec!.replicas, 3);
    const pod = deployment.spec!.template.spec!;
    const container = pod.containers[0]!;
    t.same(
      container.env?.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.key]),
      [
        ['FAPI_ISSUER_STORAGE_REDIS_URL', 'fapi-redis', 'url'],
        ['FAPI_ISSUER_STORAGE_REDIS_PASSWORD', 'fapi-redis', 'issuer-password'],
      ],
    );
    const mount = container.volumeMounts!.find((m) => m.name === 'redis-ca');
    t.equal(mount?.mountPath, '/etc/fapi-issuer/redis');
    t.same(pod.volumes!.find((v) => v.name === 'redis-ca')?.secret?.items, [
      { key: 'ca.crt', path: 'ca.crt' },
    ]);

    const secret = find(manifests, 'Secret', ISSUER) as unknown as ISecret;
    const text = secret.stringData!['issuer.yaml']!;
    const config = parseYaml(text) as { storage: Record<string, unknown> };
    t.same(config.storage, {
      type: 'redis',
      redis: { username: 'fapi-issuer', ca: '/etc/fapi-issuer/redis/ca.crt' },
    });
    t.notMatch(text, /password|redis:\/\//, 'no URL or password in the configuration Secret');
  },
);

t.test('without a CA or a password key, nothing is mounted and no password is set', async (t) => {
  const manifests = await renderChart([], [...REDIS_ISSUER, 'redis.issuer.passwordKey=']);
  const pod = (find(manifests, 'Deployment', ISSUER) as unknown as IDeployment).spec!.template.spec!;
  t.same(
    pod.containers[0]!.env?.map((e) => e.name),
    ['FAPI_ISSUER_STORAGE_REDIS_URL'],
  );
  t.notOk(pod.volumes!.some((v) => v.name === 'redis-ca'));
});

t.test('with Redis, FapiRedisUnavailable passes promtool and fires on its condition only', async (t) => {
  const withoutRedis = find(await renderChart([allOnValues]), 'PrometheusRule', `${RELEASE}-fapi-gateway`);
  t.notMatch(JSON.stringify(withoutRedis.spec), /FapiRedisUnavailable/, 'no Redis, no Redis alert');
  const rule = find(
    await renderChart([allOnValues], ['redis.existingSecret=fapi-redis']),
    'PrometheusRule',
    `${RELEASE}-fapi-gateway`,
  );
  const groups = (rule.spec as { groups: { name: string }[] }).groups.filter(
    (g) => g.name === 'fapi-gateway.redis',
  );
  t.equal(groups.length, 1);
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-redis-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'rules.yaml'), stringify({ groups }));
  copyFileSync(fixture, path.join(dir, 'tests.yaml'));
  const check = await promtool(['check', 'rules', 'rules.yaml'], { cwd: dir });
  t.equal(check.code, 0, check.output);
  const test = await promtool(['test', 'rules', 'tests.yaml'], { cwd: dir });
  t.equal(test.code, 0, test.output);
});

t.test('several gateway replicas with a DPoP route only with the Redis replay store', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-dpop-values-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const routesFile = (binding: string) => {
    const file = path.join(dir, `routes-${binding}.yaml`);
    writeFileSync(
      file,
      stringify({
        config: { routes: [{ path: '/payments', methods: ['POST'], scopes: ['payments'], binding }] },
      }),
    );
    return file;
  };
  const dpopRoutes = routesFile('dpop');
  const anyRoutes = routesFile('any');
  const refusals: [string, string, string[], RegExp][] = [
    [
      'two replicas, a dpop route, the memory store',
      dpopRoutes,
      ['replicaCount=2'],
      /a route accepts DPoP and the gateway runs more than one replica.*replayStore\.type: redis/,
    ],
    [
      'an HPA and an any route',
      anyRoutes,
      ['replicaCount=1', 'autoscaling.enabled=true'],
      /a route accepts DPoP and the gateway runs more than one replica/,
    ],
    [
      'the Redis replay store without a Secret',
      dpopRoutes,
      ['replicaCount=2', 'config.dpop.replayStore.type=redis'],
      /config\.dpop\.replayStore\.type: redis needs redis\.existingSecret/,
    ],
  ];
  for (const [what, values, set, expected] of refusals) {
    const h = await helm(['template', RELEASE, chartDir, '-f', values, ...set.flatMap((s) => ['--set', s])]);
    t.not(h.code, 0, `${what}: refused`);
    t.match(h.stderr, expected, what);
  }
  const one = await renderChart([dpopRoutes], ['replicaCount=1']);
  t.ok(find(one, 'Deployment', `${RELEASE}-fapi-gateway`), 'one replica with the memory store is fine');
  const mtlsOnly = await renderChart([], ['replicaCount=3']);
  t.ok(find(mtlsOnly, 'Deployment', `${RELEASE}-fapi-gateway`), 'mTLS-only routes scale without Redis');

  const manifests = await renderChart(
    [dpopRoutes],
    [
      'replicaCount=3',
      'config.dpop.replayStore.type=redis',
      'redis.existingSecret=fapi-redis',
      'redis.caKey=ca.crt',
      'redis.gateway.username=fapi-gateway',
    ],
  );
  const pod = (find(manifests, 'Deployment', `${RELEASE}-fapi-gateway`) as unknown as IDeployment).spec!
    .template.spec!;
  const container = pod.containers[0]!;
  t.same(
    container.env?.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.key]),
    [
      ['FAPI_GATEWAY_DPOP_REPLAY_STORE_URL', 'fapi-redis', 'url'],
      ['FAPI_GATEWAY_DPOP_REPLAY_STORE_PASSWORD', 'fapi-redis', 'gateway-password'],
    ],
  );
  t.equal(container.volumeMounts!.find((m) => m.name === 'redis-ca')?.mountPath, '/etc/fapi-gateway/redis');
  const configMap = find(manifests, 'ConfigMap', `${RELEASE}-fapi-gateway`);
  const text = (configMap as unknown as { data: Record<string, string> }).data['gateway.yaml']!;
  const config = parseYaml(text) as { dpop: { replayStore: Record<string, unknown> } };
  t.same(config.dpop.replayStore, {
    type: 'redis',
    username: 'fapi-gateway',
    ca: '/etc/fapi-gateway/redis/ca.crt',
  });
  t.notMatch(text, /password|redis:\/\//, 'no URL or password in the ConfigMap');
});
