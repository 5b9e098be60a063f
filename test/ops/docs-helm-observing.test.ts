/**
 * docs/helm.md and docs/observing.md describe what the chart really renders: every alert, every dashboard
 * panel, and a minimal values example that installs.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { allOnValues, find, renderChart, repoRoot, RELEASE } from '../helpers/helm.js';

const helm = readFileSync(path.join(repoRoot, 'docs/helm.md'), 'utf8');
const observing = readFileSync(path.join(repoRoot, 'docs/observing.md'), 'utf8');

t.test('docs/observing.md lists every alert the PrometheusRule defines', async (t) => {
  const rule = find(await renderChart([allOnValues]), 'PrometheusRule', `${RELEASE}-fapi-gateway`);
  const alerts = (
    rule.spec as { groups: { rules: { alert: string; labels: { severity: string } }[] }[] }
  ).groups.flatMap((g) => g.rules);
  t.ok(alerts.length > 0);
  for (const a of alerts) t.match(observing, `| ${a.alert} | ${a.labels.severity} |`, a.alert);
});

t.test('docs/observing.md names every dashboard panel', (t) => {
  const dashboard = JSON.parse(
    readFileSync(path.join(repoRoot, 'charts/fapi-gateway/dashboards/fapi-gateway.json'), 'utf8'),
  ) as { panels: { type: string; title: string }[] };
  for (const p of dashboard.panels) {
    if (p.type === 'row') t.match(observing, `| ${p.title} |`, `row ${p.title}`);
    else t.match(observing, p.title, p.title);
  }
  t.end();
});

t.test("docs/helm.md's minimal values install as they are", async (t) => {
  const example = /```yaml\n {3}# my-values.yaml\n([\s\S]*?) {3}```/.exec(helm)?.[1];
  t.ok(example, 'the example is there');
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-docs-helm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'my-values.yaml');
  writeFileSync(file, example!.replace(/^ {3}/gm, ''));
  const manifests = await renderChart([file]);
  const dep = find(manifests, 'Deployment', `${RELEASE}-fapi-gateway`) as unknown as {
    spec: { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } };
  };
  const secrets = dep.spec.template.spec.volumes.map((v) => v.secret?.secretName).filter(Boolean);
  t.same(secrets, ['api-gateway-tls', 'open-banking-cas']);
});
