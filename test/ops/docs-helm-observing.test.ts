/**
 * The README's "Deploy with Helm" and "Observe" sections describe what the chart really renders: every
 * alert, every dashboard panel, and a minimal values example that installs.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { allOnValues, find, renderChart, repoRoot, RELEASE } from '../helpers/helm.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('<!-- section: deploy with Helm / observe (issue 4) -->'),
  readme.indexOf('<!-- section: performance (issue 5) -->'),
);

t.test('the Observe section lists every alert the PrometheusRule defines', async (t) => {
  const rule = find(await renderChart([allOnValues]), 'PrometheusRule', `${RELEASE}-fapi-gateway`);
  const alerts = (
    rule.spec as { groups: { rules: { alert: string; labels: { severity: string } }[] }[] }
  ).groups.flatMap((g) => g.rules);
  t.ok(alerts.length > 0);
  for (const a of alerts) t.match(section, `| ${a.alert} | ${a.labels.severity} |`, a.alert);
});

t.test('the Observe section names every dashboard panel', (t) => {
  const dashboard = JSON.parse(
    readFileSync(path.join(repoRoot, 'charts/fapi-gateway/dashboards/fapi-gateway.json'), 'utf8'),
  ) as { panels: { type: string; title: string }[] };
  for (const p of dashboard.panels) {
    if (p.type === 'row') t.match(section, `| ${p.title} |`, `row ${p.title}`);
    else t.match(section, p.title, p.title);
  }
  t.end();
});

t.test("the README's minimal values install as they are", async (t) => {
  const example = /```yaml\n {3}# my-values.yaml\n([\s\S]*?) {3}```/.exec(section)?.[1];
  t.ok(example, 'the example is there');
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-readme-'));
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
