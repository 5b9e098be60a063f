/**
 * What the chart refuses, and why: helm rejects bad gateway configuration at the key paths
 * `fapi-gateway check-config` reports, refuses values the chart owns or cannot render safely, rolls the
 * pods when (and only when) the configuration changes; and the schema checks used on the rendered
 * manifests are live.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { allOnValues, chartDir, find, helm, renderChart, RELEASE, type Manifest } from '../helpers/helm.js';
import { strictFieldProblems, validateBuiltIn } from '../helpers/kubernetes-schemas.js';
import { problemPaths, runCli } from '../helpers/cli.js';
import { testPki } from '../helpers/pki.js';

const FULLNAME = `${RELEASE}-fapi-gateway`;
const as = <T>(m: Manifest) => m as unknown as T;

t.test('helm rejects bad gateway configuration at the key paths check-config reports', async (t) => {
  const pki = await testPki();
  const base = parseYaml(
    as<IConfigMap>(find(await renderChart(), 'ConfigMap', FULLNAME)).data!['gateway.yaml']!,
  ) as Record<string, unknown>;
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-chart-bad-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  interface Editable {
    tokens: Record<string, unknown>;
    routes: { path: string; methods: string[] }[];
    logging: { level: string };
    [key: string]: unknown;
  }
  const mutations: [string, (c: Editable) => void][] = [
    ['a relative JWKS URL', (c) => (c.tokens.jwksUri = 'jwks.json')],
    ['an unknown method', (c) => (c.routes[0]!.methods = ['GET', 'FETCH'])],
    ['zero workers', (c) => (c.workers = 0)],
    ['a port out of range', (c) => (c.listen = { port: 70000 })],
    ['a misspelt key', (c) => (c.tokens.issuerr = 'x')],
    ['an unknown log level', (c) => (c.logging.level = 'verbose')],
    ['no routes', (c) => (c.routes = [])],
    ['a route path without a slash', (c) => (c.routes[0]!.path = 'accounts')],
  ];
  for (const [what, mutate] of mutations) {
    const config = structuredClone(base) as Editable;
    mutate(config);
    // check-config on the gateway's own file (with real TLS files)...
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        ...config,
        tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
      }),
    );
    const r = await runCli(['check-config', file]);
    t.equal(r.code, 1, `${what}: check-config refuses it`);
    const paths = problemPaths(r.stdout, file);
    t.ok(paths.length > 0, `${what}: check-config names a key (${r.stdout.trim()})`);
    // ...and helm on the same configuration under `config:`.
    const { tls: _tls, ...withoutTls } = config;
    const values = path.join(dir, 'values.yaml');
    writeFileSync(values, JSON.stringify({ config: withoutTls }));
    const h = await helm(['template', RELEASE, chartDir, '-f', values]);
    t.not(h.code, 0, `${what}: helm refuses it`);
    for (const p of paths) {
      const segments = p.replace(/\[(\d+)\]/g, '.$1').split('.');
      const pointer = `/config/${segments.join('/')}`;
      const parent = `/config/${segments.slice(0, -1).join('/')}`.replace(/\/$/, '');
      const named =
        h.stderr.includes(`'${pointer}'`) ||
        (h.stderr.includes(`'${parent}'`) && h.stderr.includes(`'${segments[segments.length - 1]}'`));
      t.ok(named, `${what}: helm names ${p} (${h.stderr.trim()})`);
    }
  }
});

t.test('helm refuses values the chart owns or cannot render safely, naming the key', async (t) => {
  const refusals: [string, string[], RegExp][] = [
    ['a TLS file path under config', ['config.tls.cert=/etc/passwd'], /\/config\/tls.*'cert' not allowed/],
    [
      'an upstream CA path under config',
      ['config.upstream.ca=/x.pem'],
      /\/config\/upstream.*'ca' not allowed/,
    ],
    ['an unknown top-level value', ['replicas=3'], /additional properties 'replicas' not allowed/],
    ['a bad image digest', ['image.digest=latest'], /\/image\/digest/],
    [
      'cert-manager without an issuer',
      ['tls.certManager.enabled=true'],
      /tls\.certManager\.issuerRef\.name is required/,
    ],
    [
      'an upstream NetworkPolicy selecting every pod',
      ['networkPolicy.upstream.enabled=true'],
      /networkPolicy\.upstream\.podSelector must select/,
    ],
    [
      'an issuer without admin listener',
      ['issuer.enabled=true', 'issuer.config.admin=null'],
      /issuer\.config\.admin must be set/,
    ],
    [
      'several in-memory issuers',
      ['issuer.enabled=true', 'issuer.replicaCount=2'],
      /issuer\.replicaCount > 1 needs issuer\.config\.storage\.type: redis/,
    ],
    [
      'a bad issuer configuration',
      ['issuer.config.signingKeys[0].alg=HS256'],
      /\/issuer\/config\/signingKeys\/0\/alg/,
    ],
  ];
  for (const [what, set, expected] of refusals) {
    const h = await helm(['template', RELEASE, chartDir, ...set.flatMap((s) => ['--set', s])]);
    t.not(h.code, 0, `${what}: refused`);
    t.match(h.stderr, expected, what);
  }
});

t.test('a configuration change changes the checksum annotation (the pods roll)', async (t) => {
  const checksum = async (set: string[]) =>
    as<IDeployment>(find(await renderChart([], set), 'Deployment', FULLNAME)).spec!.template.metadata!
      .annotations!['checksum/config'];
  const a = await checksum([]);
  t.equal(await checksum([]), a, 'stable across renders');
  t.not(await checksum(['config.logging.level=debug']), a);
  t.equal(await checksum(['replicaCount=5']), a, 'a non-configuration value does not roll the pods');
});

t.test('the schema checks are live: they refuse a broken custom resource and a misspelt field', async (t) => {
  const manifests = await renderChart([allOnValues]);
  const sm = structuredClone(find(manifests, 'ServiceMonitor', FULLNAME));
  (sm.spec as Record<string, unknown>).endpoints = 'metrics';
  t.throws(() => validateBuiltIn(sm), 'ServiceMonitor endpoints must be a list');
  const cert = structuredClone(find(manifests, 'Certificate', FULLNAME));
  (cert.spec as Record<string, unknown>).secretname = 'typo';
  const dep = structuredClone(find(manifests, 'Deployment', FULLNAME)) as unknown as IDeployment;
  (
    dep.spec!.template.spec!.containers[0]!.securityContext as Record<string, unknown>
  ).readOnlyRootFileSystem = true;
  // One compiler run for both (each run costs seconds).
  const problems = strictFieldProblems([cert, dep as unknown as Manifest]).join('\n');
  t.match(problems, /secretname/);
  t.match(problems, /readOnlyRootFileSystem/);
});
