/**
 * The files generated from the configuration schemas, the metric registry and the rejection table
 * (values.schema.json, the chart README's values table, docs/configuration.md, docs/metrics.md, the Grafana
 * dashboard) must be committed up to date: a schema, metric or rejection change without `npm run generate`
 * fails here.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers/helm.js';

const GENERATED = [
  'charts/fapi-gateway/values.schema.json',
  'charts/fapi-gateway/dashboards/fapi-gateway.json',
  'charts/fapi-gateway/README.md',
  'docs/configuration.md',
  'docs/metrics.md',
];

function generate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, 'scripts/generate.mjs'), ...args],
      { cwd: repoRoot, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

t.test('the committed generated files match the schemas', async (t) => {
  const r = await generate(['--check']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'generated files are up to date');
});

t.test('a stale generated file is reported by name, and `generate` brings it back', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'fapi-generate-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const f of [...GENERATED, 'charts/fapi-gateway/values.yaml']) {
    cpSync(path.join(repoRoot, f), path.join(root, f), { recursive: true });
  }
  const schemaFile = path.join(root, GENERATED[0]!);
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as { properties: Record<string, unknown> };
  delete schema.properties.config;
  writeFileSync(schemaFile, JSON.stringify(schema, null, 2));
  const reference = path.join(root, 'docs/configuration.md');
  writeFileSync(reference, readFileSync(reference, 'utf8').replace('| tokens.jwksUri |', '| tokens.jwks |'));
  const metrics = path.join(root, 'docs/metrics.md');
  writeFileSync(metrics, readFileSync(metrics, 'utf8').replace('| `binding_mismatch` | 401 |', ''));

  const stale = await generate(['--check', '--root', root]);
  t.equal(stale.code, 1);
  t.match(stale.stderr, 'charts/fapi-gateway/values.schema.json');
  t.match(stale.stderr, 'docs/configuration.md');
  t.match(stale.stderr, 'docs/metrics.md');
  t.notMatch(stale.stderr, 'dashboards', 'untouched files are not reported');

  const fixed = await generate(['--root', root]);
  t.equal(fixed.code, 0, fixed.stderr);
  t.equal((await generate(['--check', '--root', root])).code, 0);
  for (const f of GENERATED) {
    t.equal(readFileSync(path.join(root, f), 'utf8'), readFileSync(path.join(repoRoot, f), 'utf8'), f);
  }
});

t.test(
  'the values schema embeds the gateway configuration schema minus the file paths the chart mounts',
  async (t) => {
    const { jsonSchemaOf } = await import('../../src/config/schema-walk.js');
    const { gatewayConfigSchema } = await import('../../src/gateway/config.js');
    type Node = { properties: Record<string, Node>; required?: string[]; [k: string]: unknown };
    const values = JSON.parse(readFileSync(path.join(repoRoot, GENERATED[0]!), 'utf8')) as Node;
    const expected = structuredClone(jsonSchemaOf(gatewayConfigSchema)) as Node;
    delete expected.$schema;
    /** Removes a dotted key; a parent left with nothing required is no longer required itself. */
    const remove = (node: Node, [head, ...rest]: string[], dotted: string): void => {
      t.ok(node.properties[head!], `${dotted} is a gateway key`);
      if (rest.length === 0) {
        const leaf = node.properties[head!]! as Node & { anyOf?: Record<string, unknown>[] };
        t.ok(
          leaf['x-file-path'] === true || (leaf.anyOf ?? []).some((a) => a['x-file-path'] === true),
          `${dotted} is a file path`,
        );
        delete node.properties[head!];
        node.required = (node.required ?? []).filter((k) => k !== head);
      } else {
        const child = node.properties[head!]!;
        remove(child, rest, dotted);
        if ((child.required ?? []).length === 0) {
          node.required = (node.required ?? []).filter((k) => k !== head);
        }
      }
      if ((node.required ?? []).length === 0) delete node.required;
    };
    for (const dotted of [
      'tls.cert',
      'tls.key',
      'tls.clientCa',
      'upstream.ca',
      'tokens.jwksCa',
      'admin.metricsAuth.bearerTokenFile',
      'admin.metricsAuth.basic.passwordFile',
      'tokens.introspection.auth.cert',
      'tokens.introspection.auth.key',
      'tokens.introspection.auth.keyFile',
      'dpop.nonce.secretFile',
      'dpop.replayStore.ca',
      'dpop.replayStore.passwordFile',
    ]) {
      remove(expected, dotted.split('.'), dotted);
    }
    const { description: _d, ...config } = values.properties.config!;
    const { description: _e, ...rest } = expected;
    t.same(config, rest, 'everything else is the gateway schema verbatim');
  },
);
