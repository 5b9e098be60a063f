/**
 * Validation of rendered manifests against the Kubernetes API schemas (kubernetes-models; the Prometheus
 * Operator and cert-manager CRD schemas from @kubernetes-models/*), plus a strict
 * pass: kubernetes-models' JSON schemas accept unknown fields (the API server would silently drop or, with
 * strict field validation, refuse them), so every object is also type-checked as an object literal against
 * the package's TypeScript interfaces, where excess-property checks reject any misspelt field.
 */
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import type { Manifest } from './helm.js';
import { typeProblems } from './type-check.js';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

/** apiVersion/kind -> [model class, module of its TypeScript interface, interface name]. */
const MODELS: Record<string, [ModelClass, string, string]> = {
  'v1/ConfigMap': [ConfigMap, 'kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1/Secret': [Secret, 'kubernetes-models/v1/Secret', 'ISecret'],
  'v1/Service': [Service, 'kubernetes-models/v1/Service', 'IService'],
  'v1/ServiceAccount': [ServiceAccount, 'kubernetes-models/v1/ServiceAccount', 'IServiceAccount'],
  'apps/v1/Deployment': [Deployment, 'kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'autoscaling/v2/HorizontalPodAutoscaler': [
    HorizontalPodAutoscaler,
    'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    'IHorizontalPodAutoscaler',
  ],
  'policy/v1/PodDisruptionBudget': [
    PodDisruptionBudget,
    'kubernetes-models/policy/v1/PodDisruptionBudget',
    'IPodDisruptionBudget',
  ],
  'networking.k8s.io/v1/NetworkPolicy': [
    NetworkPolicy,
    'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
    'INetworkPolicy',
  ],
  // Custom resources: the CRD schemas of the Prometheus Operator and cert-manager, packaged the same way.
  'monitoring.coreos.com/v1/ServiceMonitor': [
    ServiceMonitor,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    'IServiceMonitor',
  ],
  'monitoring.coreos.com/v1/PrometheusRule': [
    PrometheusRule,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    'IPrometheusRule',
  ],
  'cert-manager.io/v1/Certificate': [
    Certificate,
    '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate',
    'ICertificate',
  ],
};

export const typeKey = (m: Manifest) => `${m.apiVersion}/${m.kind}`;

export function isBuiltIn(m: Manifest): boolean {
  return typeKey(m) in MODELS;
}

/** Throws with the schema error of the first invalid object. */
export function validateBuiltIn(m: Manifest): void {
  const entry = MODELS[typeKey(m)];
  if (!entry) throw new Error(`no Kubernetes model for ${typeKey(m)}`);
  const [Model] = entry;
  new Model(m as never).validate();
}

/** Diagnostics of type-checking the objects as literals of their kubernetes-models interfaces. */
export function strictFieldProblems(manifests: Manifest[]): string[] {
  const imports = new Set<string>();
  const lines: string[] = [];
  manifests.forEach((m, i) => {
    const entry = MODELS[typeKey(m)];
    if (!entry) return;
    const [, module, iface] = entry;
    imports.add(`import type { ${iface} } from '${module}';`);
    lines.push(
      `// ${m.kind}/${m.metadata.name}`,
      `export const o${i}: ${iface} = ${JSON.stringify(m, null, 1)};`,
    );
  });
  return typeProblems([...imports, ...lines].join('\n'));
}
