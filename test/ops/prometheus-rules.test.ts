/**
 * The chart's PrometheusRule, as Helm renders it, passes `promtool check rules`, and its alerts fire (and
 * stay quiet) as promised: promtool unit tests in fixtures/prometheus-rule-tests.yaml.
 */
import t, { type Test } from 'tap';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { allOnValues, find, renderChart, RELEASE } from '../helpers/helm.js';
import { promtool } from '../helpers/promtool.js';

const fixture = fileURLToPath(new URL('./fixtures/prometheus-rule-tests.yaml', import.meta.url));

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

async function renderedRules(set: string[] = []): Promise<{ groups: { name: string; rules: Rule[] }[] }> {
  const rule = find(await renderChart([allOnValues], set), 'PrometheusRule', `${RELEASE}-fapi-gateway`);
  return { groups: (rule.spec as { groups: { name: string; rules: Rule[] }[] }).groups };
}

function workDir(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(fixture, path.join(dir, 'prometheus-rule-tests.yaml'));
  return dir;
}

t.test('promtool check rules passes on the rendered rule groups', async (t) => {
  const rules = await renderedRules();
  const dir = workDir(t);
  writeFileSync(path.join(dir, 'rules.yaml'), stringify(rules));
  const r = await promtool(['check', 'rules', 'rules.yaml'], { cwd: dir });
  t.equal(r.code, 0, r.output);
  t.match(r.output, 'SUCCESS: 11 rules found');
  const alerts = rules.groups.flatMap((g) => g.rules);
  t.same(
    alerts.map((a) => a.alert),
    [
      'FapiGatewayRejectionRatioHigh',
      'FapiGatewayBindingMismatch',
      'FapiGatewayJwksFetchFailing',
      'FapiGatewayJwksStale',
      'FapiGatewayUpstreamErrors',
      'FapiGatewayIntrospectionFailing',
      'FapiGatewayServerCertificateExpiring',
      'FapiGatewayClientCaExpiring',
      'FapiGatewayNoReadyPods',
      'FapiGatewayWorkerRestarting',
      'FapiGatewayConfigReloadFailing',
    ],
  );
  for (const a of alerts) {
    t.match(a.labels.severity, /^(warning|critical)$/, `${a.alert} severity`);
    t.ok(a.annotations.summary && a.annotations.description, `${a.alert} is explained`);
    // Every selector is scoped to this release's scrape job, so two releases never alert for each other.
    for (const selector of a.expr.match(/fapi_gateway_\w+\{[^}]*\}/g) ?? []) {
      t.match(
        selector,
        `job="${RELEASE}-fapi-gateway-metrics",namespace="banking"`,
        `${a.alert}: ${selector}`,
      );
    }
    t.notMatch(a.expr, /fapi_gateway_\w+(?![\w{])/, `${a.alert}: no unscoped metric`);
  }
});

t.test('promtool test rules: each alert fires on its condition and stays quiet otherwise', async (t) => {
  const dir = workDir(t);
  writeFileSync(path.join(dir, 'rules.yaml'), stringify(await renderedRules()));
  const r = await promtool(['test', 'rules', 'prometheus-rule-tests.yaml'], { cwd: dir });
  t.equal(r.code, 0, r.output);
  t.match(r.output, 'SUCCESS');
});

t.test('the unit tests notice a changed threshold (they test the rendered values)', async (t) => {
  const dir = workDir(t);
  const rules = await renderedRules(['metrics.prometheusRule.bindingMismatchBurst=20']);
  writeFileSync(path.join(dir, 'rules.yaml'), stringify(rules));
  const r = await promtool(['test', 'rules', 'prometheus-rule-tests.yaml'], { cwd: dir });
  t.equal(r.code, 1);
  t.match(r.output, /FAILED[\s\S]*FapiGatewayBindingMismatch/);
});

t.test('promtool check rules refuses a broken expression (the check is real)', async (t) => {
  const dir = workDir(t);
  const rules = await renderedRules();
  rules.groups[0]!.rules[0]!.expr = 'sum(rate(fapi_gateway_requests_total[5m]) >';
  writeFileSync(path.join(dir, 'rules.yaml'), stringify(rules));
  const r = await promtool(['check', 'rules', 'rules.yaml'], { cwd: dir });
  t.not(r.code, 0);
  t.match(r.output, /FAILED/);
});

t.test('metrics.prometheusRule.selector rescopes every alert; a malformed selector is refused', async (t) => {
  const rules = await renderedRules(['metrics.prometheusRule.selector=cluster="eu-1"\\,app="payments-gw"']);
  for (const a of rules.groups.flatMap((g) => g.rules))
    for (const selector of a.expr.match(/fapi_gateway_\w+\{[^}]*\}/g) ?? [])
      t.match(selector, /^fapi_gateway_\w+\{cluster="eu-1",app="payments-gw"[,}]/, `${a.alert}: ${selector}`);
  await t.rejects(
    renderedRules(['metrics.prometheusRule.selector=job=gw']),
    /\/metrics\/prometheusRule\/selector/,
  );
});
