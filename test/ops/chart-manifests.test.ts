/**
 * The Helm chart, rendered with real helm: lint, Kubernetes schema validity, the security posture, probes,
 * ports, mounts, the rendered configuration files (checked by `fapi-gateway check-config`), and the wiring
 * between objects (selectors, Service ports, NetworkPolicies, the config checksum).
 */
import t, { type Test } from 'tap';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IContainer } from 'kubernetes-models/v1/Container';
import {
  allOnValues,
  chartDir,
  find,
  helm,
  renderChart,
  NAMESPACE,
  RELEASE,
  type Manifest,
} from '../helpers/helm.js';
import { isBuiltIn, strictFieldProblems, typeKey, validateBuiltIn } from '../helpers/kubernetes-schemas.js';
import { runCli } from '../helpers/cli.js';
import { testPki } from '../helpers/pki.js';
import { jsonSchemaOf, filePathLeaves } from '../../src/config/schema-walk.js';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { issuerConfigSchema } from '../../src/issuer/config.js';

const FULLNAME = `${RELEASE}-fapi-gateway`;
const as = <T>(m: Manifest) => m as unknown as T;

const cases = [
  { name: 'default values', files: [] as string[], listenPort: 8443, adminPort: 9464 },
  { name: 'every option on', files: [allOnValues], listenPort: 9443, adminPort: 9090 },
];

function podLabelsMatch(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
) {
  return (
    !!selector &&
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v)
  );
}

function container(dep: IDeployment, name: string): IContainer {
  const c = dep.spec!.template.spec!.containers.find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}

t.test('helm lint --strict passes for the default values and for every option on', async (t) => {
  for (const c of cases) {
    const args = ['lint', '--strict', chartDir, ...c.files.flatMap((f) => ['-f', f])];
    const r = await helm(args);
    t.equal(r.code, 0, `${c.name}: ${r.stdout}${r.stderr}`);
    t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

for (const c of cases) {
  t.test(`${c.name}: the rendered chart`, async (t) => {
    const manifests = await renderChart(c.files);
    const dep = as<IDeployment>(find(manifests, 'Deployment', FULLNAME));
    const pod = dep.spec!.template;
    const gw = container(dep, 'gateway');

    t.test('every object is valid against the Kubernetes schemas, with no unknown field', (t) => {
      for (const m of manifests) {
        t.ok(isBuiltIn(m), `${typeKey(m)} has a schema`);
        t.doesNotThrow(() => validateBuiltIn(m), `${m.kind}/${m.metadata.name}`);
        // The upstream's NetworkPolicy lives with the upstream (networkPolicy.upstream.namespace).
        const expected = m.metadata.name === `${FULLNAME}-upstream` ? 'legacy' : NAMESPACE;
        t.equal(m.metadata.namespace, expected, `${m.kind}/${m.metadata.name} namespace`);
      }
      t.same(strictFieldProblems(manifests), []);
      t.end();
    });

    t.test('pods run non-root on a read-only root filesystem with no privileges', (t) => {
      for (const m of manifests.filter((x) => x.kind === 'Deployment')) {
        const spec = as<IDeployment>(m).spec!.template.spec!;
        const psc = spec.securityContext!;
        t.equal(psc.runAsNonRoot, true);
        t.ok(Number.isInteger(psc.runAsUser) && psc.runAsUser! > 0, 'numeric non-root uid');
        t.equal(psc.seccompProfile?.type, 'RuntimeDefault');
        t.equal(spec.automountServiceAccountToken, false);
        for (const ctr of spec.containers) {
          const sc = ctr.securityContext!;
          t.equal(sc.runAsNonRoot, true, `${ctr.name} runAsNonRoot`);
          t.equal(sc.readOnlyRootFilesystem, true, `${ctr.name} readOnlyRootFilesystem`);
          t.equal(sc.allowPrivilegeEscalation, false, `${ctr.name} allowPrivilegeEscalation`);
          t.equal(sc.privileged, false, `${ctr.name} privileged`);
          t.same(sc.capabilities?.drop, ['ALL'], `${ctr.name} drops all capabilities`);
          t.notOk(sc.capabilities?.add, `${ctr.name} adds no capability`);
          t.equal(sc.seccompProfile?.type, 'RuntimeDefault');
          for (const vm of ctr.volumeMounts ?? []) {
            const vol = spec.volumes!.find((v) => v.name === vm.name)!;
            t.ok(vol, `volume ${vm.name} exists`);
            // The only writable place is an emptyDir (tmp); everything else is mounted read-only.
            if (!vol.emptyDir) t.equal(vm.readOnly, true, `${ctr.name}: ${vm.mountPath} read-only`);
            // subPath mounts never see Secret updates, so certificate hot reload would silently stop.
            t.notOk(vm.subPath, `${ctr.name}: ${vm.mountPath} is not a subPath mount`);
          }
        }
      }
      t.end();
    });

    t.test('ports and probes: /healthz and /readyz on the admin listener', (t) => {
      t.same(
        gw.ports!.map((p) => [p.name, p.containerPort, p.protocol]),
        [
          ['https', c.listenPort, 'TCP'],
          ['metrics', c.adminPort, 'TCP'],
        ],
      );
      t.same(gw.livenessProbe!.httpGet, { path: '/healthz', port: 'metrics' });
      t.same(gw.startupProbe!.httpGet, { path: '/healthz', port: 'metrics' });
      t.same(gw.readinessProbe!.httpGet, { path: '/readyz', port: 'metrics' });
      t.same(gw.args, ['gateway', '--config', '/etc/fapi-gateway/config/gateway.yaml']);
      t.equal(gw.lifecycle?.preStop?.sleep?.seconds, 5);
      // drainTimeoutMs (10 s default, 20 s in the all-on values) + graceSeconds 5 s + preStop 5 s + 5 s margin.
      t.equal(pod.spec!.terminationGracePeriodSeconds, c.files.length ? 35 : 25);
      t.end();
    });

    t.test(
      'Services: clients reach only the mTLS port; the admin port has its own ClusterIP Service',
      (t) => {
        for (const d of manifests.filter((m) => m.kind === 'Deployment').map((m) => as<IDeployment>(m)))
          t.ok(
            podLabelsMatch(d.spec!.selector.matchLabels, d.spec!.template.metadata!.labels),
            `${d.metadata!.name}: the selector matches its pod template`,
          );
        const svc = as<IService>(find(manifests, 'Service', FULLNAME));
        t.same(
          svc.spec!.ports!.map((p) => [p.name, p.targetPort]),
          [['https', 'https']],
        );
        t.ok(podLabelsMatch(svc.spec!.selector, pod.metadata!.labels), 'selects the gateway pods');
        const metrics = as<IService>(find(manifests, 'Service', `${FULLNAME}-metrics`));
        t.equal(metrics.spec!.type, 'ClusterIP');
        t.same(
          metrics.spec!.ports!.map((p) => [p.name, p.targetPort]),
          [['metrics', 'metrics']],
        );
        t.ok(podLabelsMatch(metrics.spec!.selector, pod.metadata!.labels));
        const pdb = as<IPodDisruptionBudget>(find(manifests, 'PodDisruptionBudget', FULLNAME));
        t.ok(
          podLabelsMatch(pdb.spec!.selector!.matchLabels, pod.metadata!.labels),
          'PDB selects the gateway pods',
        );
        for (const tsc of pod.spec!.topologySpreadConstraints ?? []) {
          t.ok(
            podLabelsMatch(tsc.labelSelector!.matchLabels, pod.metadata!.labels),
            `spread over ${tsc.topologyKey}`,
          );
        }
        t.equal(pod.spec!.topologySpreadConstraints?.length, 2);
        t.end();
      },
    );

    t.test('the config checksum annotation is the hash of the rendered configuration', (t) => {
      const cm = as<IConfigMap>(find(manifests, 'ConfigMap', FULLNAME));
      const text = cm.data!['gateway.yaml']!;
      const sum = createHash('sha256').update(text.replace(/\n$/, '')).digest('hex');
      t.equal(pod.metadata!.annotations!['checksum/config'], sum);
      t.end();
    });

    t.test('the admin listener answers on the pod address (its default is loopback)', (t) => {
      const cm = as<IConfigMap>(find(manifests, 'ConfigMap', FULLNAME));
      const config = parseYaml(cm.data!['gateway.yaml']!) as { admin: { host: string } };
      t.equal(config.admin.host, '0.0.0.0');
      t.end();
    });

    t.test(
      'the rendered gateway configuration passes check-config, every file it names is mounted',
      async (t) => {
        const cm = as<IConfigMap>(find(manifests, 'ConfigMap', FULLNAME));
        const text = cm.data!['gateway.yaml']!;
        const config = parseYaml(text) as Record<string, unknown>;
        await checkRenderedConfig(t, {
          text,
          config,
          schema: jsonSchemaOf(gatewayConfigSchema),
          kind: 'gateway',
          containerSpec: dep,
          containerName: 'gateway',
          configMount: '/etc/fapi-gateway/config/gateway.yaml',
        });
      },
    );

    if (c.files.length === 0) {
      t.test('defaults: no optional object is rendered', (t) => {
        const kinds = manifests.map((m) => m.kind).sort();
        t.same(kinds, [
          'ConfigMap',
          'ConfigMap',
          'Deployment',
          'PodDisruptionBudget',
          'Service',
          'Service',
          'ServiceAccount',
        ]);
        t.equal(dep.spec!.replicas, 2);
        t.equal(
          gw.image,
          'ghcr.io/fapi-gateway/fapi-gateway:0.1.0',
          "image tag defaults to the chart's appVersion",
        );
        const dashboard = as<IConfigMap>(find(manifests, 'ConfigMap', `${FULLNAME}-dashboard`));
        t.equal(dashboard.metadata!.labels!.grafana_dashboard, '1');
        const json = JSON.parse(dashboard.data!['fapi-gateway.json']!) as { uid: string; panels: unknown[] };
        t.equal(json.uid, 'fapi-gateway');
        t.ok(json.panels.length >= 15);
        t.end();
      });
    } else {
      t.test('all on: HPA, NetworkPolicies, cert-manager, ServiceMonitor, issuer', (t) => {
        t.notOk(dep.spec!.replicas, 'the HPA owns the replica count');
        t.match(gw.image, /@sha256:[0-9a-f]{64}$/, 'digest pins the image');
        const hpa = as<IHorizontalPodAutoscaler>(find(manifests, 'HorizontalPodAutoscaler', FULLNAME));
        t.same(hpa.spec!.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: FULLNAME });
        t.same(
          hpa.spec!.metrics!.map((m) => m.resource!.name),
          ['cpu', 'memory'],
        );

        const np = as<INetworkPolicy>(find(manifests, 'NetworkPolicy', FULLNAME));
        t.ok(podLabelsMatch(np.spec!.podSelector.matchLabels, pod.metadata!.labels));
        t.same(np.spec!.policyTypes, ['Ingress', 'Egress']);
        t.same(
          np.spec!.ingress!.map((r) => r.ports!.map((p) => p.port)),
          [[9443], [9090]],
        );
        t.same(np.spec!.ingress![1]!.from, [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
        ]);
        const egressPorts = np.spec!.egress!.flatMap((r) => r.ports!.map((p) => `${p.protocol}/${p.port}`));
        t.same(egressPorts, ['UDP/53', 'TCP/53', 'TCP/8443', 'TCP/443']);

        // Only the gateway may reach the upstream.
        const up = as<INetworkPolicy>(find(manifests, 'NetworkPolicy', `${FULLNAME}-upstream`));
        t.equal(up.metadata!.namespace, 'legacy');
        t.same(up.spec!.podSelector, { matchLabels: { app: 'core-banking' } });
        t.same(up.spec!.policyTypes, ['Ingress']);
        t.equal(up.spec!.ingress!.length, 1);
        const peer = up.spec!.ingress![0]!.from!;
        t.equal(peer.length, 1);
        t.same(peer[0]!.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } });
        t.ok(
          podLabelsMatch(peer[0]!.podSelector!.matchLabels, pod.metadata!.labels),
          'admits the gateway pods',
        );
        t.notOk(
          podLabelsMatch(peer[0]!.podSelector!.matchLabels, {
            ...pod.metadata!.labels,
            'app.kubernetes.io/component': 'issuer',
          }),
          'not the issuer pods',
        );
        t.same(up.spec!.ingress![0]!.ports, [{ port: 8443, protocol: 'TCP' }]);

        const cert = find(manifests, 'Certificate', FULLNAME) as unknown as {
          spec: {
            secretName: string;
            issuerRef: Record<string, string>;
            dnsNames: string[];
            privateKey: Record<string, unknown>;
            usages: string[];
          };
        };
        const tlsVolume = pod.spec!.volumes!.find((v) => v.name === 'tls')!;
        t.equal(
          cert.spec.secretName,
          tlsVolume.secret!.secretName,
          'cert-manager writes the Secret the pods mount',
        );
        t.same(cert.spec.issuerRef, { name: 'internal-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
        t.same(cert.spec.dnsNames, ['api.bank.example']);
        t.same(cert.spec.privateKey, {
          algorithm: 'RSA',
          size: 3072,
          encoding: 'PKCS8',
          rotationPolicy: 'Always',
        });
        t.ok(cert.spec.usages.includes('server auth'));

        const sm = find(manifests, 'ServiceMonitor', FULLNAME) as unknown as {
          metadata: { labels: Record<string, string> };
          spec: {
            selector: {
              matchLabels: Record<string, string>;
              matchExpressions: { key: string; operator: string; values: string[] }[];
            };
            endpoints: { port: string; path: string }[];
            namespaceSelector: { matchNames: string[] };
          };
        };
        const metricsSvc = as<IService>(find(manifests, 'Service', `${FULLNAME}-metrics`));
        const selects = (svc: IService) =>
          podLabelsMatch(sm.spec.selector.matchLabels, svc.metadata!.labels) &&
          sm.spec.selector.matchExpressions.every(
            (e) => e.operator === 'In' && e.values.includes(svc.metadata!.labels![e.key]!),
          );
        t.ok(selects(metricsSvc), 'selects the gateway metrics Service');
        t.ok(
          selects(as<IService>(find(manifests, 'Service', `${FULLNAME}-issuer-metrics`))),
          'selects the issuer metrics Service',
        );
        for (const svc of manifests.filter((m) => m.kind === 'Service').map((m) => as<IService>(m)))
          if (!svc.metadata!.name!.endsWith('-metrics'))
            t.notOk(selects(svc), `not the client-facing ${svc.metadata!.name}`);
        t.same(
          sm.spec.endpoints.map((e) => [e.port, e.path]),
          [['metrics', '/metrics']],
        );
        t.same(sm.spec.namespaceSelector.matchNames, [NAMESPACE]);
        t.equal(sm.metadata.labels.release, 'prometheus');

        const dashboard = as<IConfigMap>(find(manifests, 'ConfigMap', `${FULLNAME}-dashboard`));
        t.equal(dashboard.metadata!.annotations!.grafana_folder, 'Gateways');
        t.ok(
          pod.spec!.volumes!.some((v) => v.secret?.secretName === 'issuer-ca'),
          'JWKS CA mounted',
        );
        t.ok(
          pod.spec!.volumes!.some((v) => v.secret?.secretName === 'legacy-ca'),
          'upstream CA mounted',
        );
        t.same(pod.spec!.imagePullSecrets, [{ name: 'registry-credentials' }]);
        t.end();
      });

      t.test('the issuer: its configuration Secret passes check-config --kind issuer', async (t) => {
        const issuer = as<IDeployment>(find(manifests, 'Deployment', `${FULLNAME}-issuer`));
        const ctr = container(issuer, 'issuer');
        t.same(ctr.args, ['issuer', '--config', '/etc/fapi-issuer/config/issuer.yaml']);
        t.same(
          ctr.ports!.map((p) => [p.name, p.containerPort]),
          [
            ['https', 8444],
            ['https-mtls', 8445],
            ['metrics', 9465],
          ],
        );
        t.same(ctr.readinessProbe!.httpGet, { path: '/readyz', port: 'metrics' });
        const svc = as<IService>(find(manifests, 'Service', `${FULLNAME}-issuer`));
        t.ok(podLabelsMatch(svc.spec!.selector, issuer.spec!.template.metadata!.labels));
        t.notOk(
          podLabelsMatch(svc.spec!.selector, pod.metadata!.labels),
          'the issuer Service does not select gateway pods',
        );
        const secret = as<ISecret>(find(manifests, 'Secret', `${FULLNAME}-issuer`));
        const text = secret.stringData!['issuer.yaml']!;
        await checkRenderedConfig(t, {
          text,
          config: parseYaml(text) as Record<string, unknown>,
          schema: jsonSchemaOf(issuerConfigSchema),
          kind: 'issuer',
          containerSpec: issuer,
          containerName: 'issuer',
          configMount: '/etc/fapi-issuer/config/issuer.yaml',
        });
      });
    }
  });
}

/**
 * Every file path in a rendered configuration must lie in a Secret or ConfigMap volume mounted into the
 * container (with a matching key); then the file is reproduced under a temporary root with real PEMs and
 * the configuration is run through the real `fapi-gateway check-config`.
 */
async function checkRenderedConfig(
  t: Test,
  o: {
    text: string;
    config: Record<string, unknown>;
    schema: ReturnType<typeof jsonSchemaOf>;
    kind: 'gateway' | 'issuer';
    containerSpec: IDeployment;
    containerName: string;
    configMount: string;
  },
) {
  const pki = await testPki();
  const spec = o.containerSpec.spec!.template.spec!;
  const ctr = container(o.containerSpec, o.containerName);
  const root = mkdtempSync(path.join(tmpdir(), 'fapi-chart-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const content: Record<string, string> = {
    cert: pki.server.certPem,
    key: pki.server.keyPem,
    clientCa: pki.ca.certPem,
    ca: pki.ca.certPem,
    file: signingKey,
  };
  const mountedFiles = [o.configMount, ...filePathLeaves(o.schema, o.config).map((l) => l.get() as string)];
  for (const file of mountedFiles) {
    t.ok(path.isAbsolute(file), `${file} is absolute`);
    const mount = ctr.volumeMounts!.find((vm) => file.startsWith(`${vm.mountPath}/`));
    t.ok(mount, `${file} lies in a mounted volume`);
    if (!mount) continue;
    const volume = spec.volumes!.find((v) => v.name === mount.name)!;
    t.ok(volume.secret ?? volume.configMap, `${file} comes from a Secret or ConfigMap`);
    const leaf = filePathLeaves(o.schema, o.config).find((l) => l.get() === file);
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    if (file === o.configMount) continue;
    const key = String(leaf!.segments[leaf!.segments.length - 1]);
    writeFileSync(target, content[key] ?? pki.ca.certPem);
  }
  // The configuration file itself, with its absolute paths moved under the temporary root.
  const configFile = path.join(root, o.configMount);
  const moved = o.text.replace(
    /(^|\s)\/etc\/fapi-(gateway|issuer)\//gm,
    (_m, pre: string, which: string) => `${pre}${root}/etc/fapi-${which}/`,
  );
  writeFileSync(configFile, moved);
  const r = await runCli(['check-config', configFile, '--kind', o.kind]);
  t.equal(r.code, 0, `check-config: ${r.stdout}${r.stderr}`);
  t.match(r.stdout, `${configFile}: OK (${o.kind} configuration)`);
}
