/**
 * The Grafana dashboard is well formed (unique ids, a 24-column grid without overlaps, defined variables)
 * and every query is valid PromQL: promtool parses each one as a recording rule, with Grafana's
 * variables replaced by values of the right kind.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from '../helpers/helm.js';
import { promtool } from '../helpers/promtool.js';
import { JSON_OF, typeProblems } from '../helpers/type-check.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}

const dashboardText = readFileSync(
  path.join(repoRoot, 'charts/fapi-gateway/dashboards/fapi-gateway.json'),
  'utf8',
);
const dashboard = JSON.parse(dashboardText) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
};

const GRAFANA_BUILTINS: Record<string, string> = { __rate_interval: '2m', __range: '6h', __interval: '30s' };

t.test('panels have unique ids and tile a 24-column grid without overlapping', (t) => {
  const ids = dashboard.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'unique ids');
  const cells = new Map<string, string>();
  for (const p of dashboard.panels) {
    const { x, y, w, h } = p.gridPos;
    t.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0, `${p.title} fits the grid`);
    for (let i = x; i < x + w; i++)
      for (let j = y; j < y + h; j++) {
        const key = `${i},${j}`;
        t.notOk(cells.has(key), `${p.title} does not overlap ${cells.get(key) ?? ''}`.trim());
        cells.set(key, p.title);
      }
  }
  t.end();
});

t.test('every variable a query uses is defined, and every panel uses the data source variable', (t) => {
  const defined = new Set(dashboard.templating.list.map((v) => v.name));
  t.ok(defined.has('datasource') && defined.has('namespace') && defined.has('job'));
  for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
    t.equal(p.datasource?.uid, '${datasource}', `${p.title} data source`);
    const refIds = (p.targets ?? []).map((x) => x.refId);
    t.equal(new Set(refIds).size, refIds.length, `${p.title}: unique refIds`);
    for (const target of p.targets ?? []) {
      for (const m of target.expr.matchAll(/\$(\w+)/g)) {
        t.ok(defined.has(m[1]!) || m[1]! in GRAFANA_BUILTINS, `${p.title}: $${m[1]} is defined`);
      }
    }
  }
  t.end();
});

t.test('every panel query is valid PromQL (promtool check rules)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-dashboard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rules = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((target, i) => ({
      record: `dashboard:panel_${p.id}_${i}`,
      expr: target.expr
        .replace(/\$(__\w+)/g, (_m, v: string) => GRAFANA_BUILTINS[v] ?? _m)
        .replace(/"\$\w+"/g, '".*"'),
    })),
  );
  t.ok(rules.length >= 20, `${rules.length} queries`);
  writeFileSync(path.join(dir, 'dashboard.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
  const r = await promtool(['check', 'rules', 'dashboard.yaml'], { cwd: dir });
  t.equal(r.code, 0, r.output);
  t.match(r.output, `SUCCESS: ${rules.length} rules found`);

  // The check is real: a broken query fails it.
  rules[0]!.expr = 'sum(rate(fapi_gateway_requests_total[2m])';
  writeFileSync(path.join(dir, 'dashboard.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
  t.not((await promtool(['check', 'rules', 'dashboard.yaml'], { cwd: dir })).code, 0);
});

t.test(
  "the dashboard matches Grafana's published Dashboard type (@grafana/schema), with no unknown field",
  (t) => {
    const check = (json: string) =>
      typeProblems(
        [
          `import type { Dashboard } from '@grafana/schema';`,
          JSON_OF,
          `export const d: JsonOf<Dashboard> = ${json};`,
        ].join('\n'),
      );
    t.same(check(dashboardText), []);
    // The check is strict: a misspelt field or a wrong enum value is reported.
    t.ok(check(dashboardText.replace('"gridPos"', '"gridPosition"')).length > 0, 'misspelt field refused');
    t.ok(
      check(dashboardText.replace('"mode": "absolute"', '"mode": "absolut"')).length > 0,
      'bad enum value refused',
    );
    t.end();
  },
);
