/**
 * The chart's own values (everything except `config` and `issuer.config`, which come from the gateway's and
 * the issuer's configuration schemas). Described here once: these descriptions become values.schema.json
 * and the chart README's values table. Defaults live in charts/fapi-gateway/values.yaml (what Helm uses).
 */
import { z } from 'zod';

const str = (d) => z.string().describe(d);
const name = (d) =>
  z
    .string()
    .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/, 'must be a DNS name')
    .describe(d);
const bool = (d) => z.boolean().describe(d);
const int = (min, max, d) => z.number().int().min(min).max(max).describe(d);
const portNumber = (d) => int(1, 65535, d);
const stringMap = (d) => z.record(z.string(), z.string()).describe(d);
/** Kubernetes objects passed through verbatim; the API server validates them. */
const k8s = (d) => z.record(z.string(), z.unknown()).describe(d);
const k8sList = (d) => z.array(z.record(z.string(), z.unknown())).describe(d);
const secretKey = (d) =>
  z
    .string()
    .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret data key')
    .describe(d);
const duration = (d) =>
  z
    .string()
    .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/, 'must be a Go duration like 30s or 720h')
    .describe(d);
const serviceType = z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']);
const probe = (d) =>
  z
    .object({
      initialDelaySeconds: int(0, 3600, 'Seconds before the first probe.').optional(),
      periodSeconds: int(1, 3600, 'Seconds between probes.'),
      timeoutSeconds: int(1, 3600, 'Seconds before a probe times out.'),
      failureThreshold: int(1, 1000, 'Consecutive failures before acting.'),
    })
    .strict()
    .describe(d);

/** `config` and `issuer.config` are filled in by the generator with the configuration schemas. */
export const CONFIG_PLACEHOLDER = z.object({}).describe('__config__');
export const ISSUER_CONFIG_PLACEHOLDER = z.object({}).describe('__issuer_config__');

export const chartValuesSchema = z
  .object({
    global: k8s('Values shared with parent charts (unused by this chart).').optional(),
    image: z
      .object({
        repository: z.string().min(1).describe('Image repository.'),
        tag: str("Image tag; empty: the chart's appVersion."),
        digest: z
          .string()
          .regex(/^(sha256:[a-f0-9]{64})?$/, 'must be empty or sha256:<64 hex digits>')
          .describe('Image digest (sha256:...); pins the image and wins over the tag.'),
        pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).describe('Image pull policy.'),
      })
      .strict(),
    imagePullSecrets: z
      .array(z.object({ name: z.string().min(1) }).strict())
      .describe('Pull secrets for the image.'),
    nameOverride: str('Replaces the chart name in resource names.'),
    fullnameOverride: str('Replaces the full resource name prefix.'),
    replicaCount: int(0, 1000, 'Gateway pods (ignored while autoscaling.enabled).'),
    config: CONFIG_PLACEHOLDER,
    tls: z
      .object({
        existingSecret: name(
          'kubernetes.io/tls Secret with the server certificate; empty: "<fullname>-tls".',
        ),
        certKey: secretKey('Key of the certificate chain (PEM) in that Secret.'),
        keyKey: secretKey('Key of the private key (PEM) in that Secret.'),
        clientCa: z
          .object({
            existingSecret: name('Secret with the trusted client CA bundle; empty: "<fullname>-client-ca".'),
            key: secretKey('Key of the PEM bundle in that Secret.'),
          })
          .strict(),
        upstreamCa: z
          .object({
            existingSecret: name('Secret with a CA bundle for an https:// upstream; empty: system CAs.'),
            key: secretKey('Key of the PEM bundle in that Secret.'),
          })
          .strict(),
        jwksCa: z
          .object({
            existingSecret: name(
              "Secret with a CA bundle trusted for the issuer's JWKS URL; empty: system CAs.",
            ),
            key: secretKey('Key of the PEM bundle in that Secret.'),
          })
          .strict(),
        introspectionClient: z
          .object({
            existingSecret: name(
              "Secret with the gateway's credentials for tokens.introspection (client certificate + key, assertion key or client secret); empty: none.",
            ),
            certKey: secretKey('tls_client_auth: key of the client certificate (PEM) in that Secret.'),
            keyKey: secretKey('tls_client_auth: key of its private key (PEM).'),
            assertionKeyKey: secretKey('private_key_jwt: key of the assertion signing key (PEM).'),
            clientSecretKey: secretKey('client_secret_basic: key of the client secret.'),
          })
          .strict(),
        certManager: z
          .object({
            enabled: bool(
              'Render a cert-manager Certificate writing the server certificate to "<fullname>-tls".',
            ),
            issuerRef: z
              .object({
                name: str('Issuer or ClusterIssuer name (required when enabled).'),
                kind: z.string().min(1).describe('Issuer kind.'),
                group: z.string().min(1).describe('Issuer API group.'),
              })
              .strict(),
            dnsNames: z
              .array(z.string().min(1))
              .describe("Certificate DNS names; empty: the Service's cluster names."),
            duration: duration('Certificate lifetime.'),
            renewBefore: duration('Renew this long before expiry.'),
            privateKey: z
              .object({
                algorithm: z
                  .enum(['RSA', 'ECDSA', 'Ed25519'])
                  .describe('Key algorithm (RSA for FAPI 1 TLS 1.2 suites).'),
                size: z.number().int().min(256).max(8192).describe('Key size in bits (RSA >= 2048).'),
              })
              .strict(),
          })
          .strict(),
      })
      .strict(),
    dpop: z
      .object({
        nonceSecret: z
          .object({
            existingSecret: name(
              'Secret with the DPoP nonce secret (at least 32 bytes), the same for every pod; sets config.dpop.nonce.secretFile. Empty: a random secret per process.',
            ),
            key: secretKey('Key of the secret in that Secret.'),
          })
          .strict(),
      })
      .strict(),
    service: z
      .object({
        type: serviceType.describe(
          'Client-facing Service type; use an L4 LoadBalancer (mTLS ends at the gateway).',
        ),
        port: portNumber('Client-facing Service port.'),
        annotations: stringMap('Service annotations (e.g. load-balancer settings).'),
        externalTrafficPolicy: z
          .enum(['', 'Cluster', 'Local'])
          .describe('Local keeps client source addresses.'),
        loadBalancerSourceRanges: z
          .array(z.string().min(1))
          .describe('CIDRs allowed through a LoadBalancer.'),
      })
      .strict(),
    metricsService: z
      .object({
        port: portNumber('Port of the ClusterIP Service in front of the admin listener.'),
        annotations: stringMap('Annotations of that Service.'),
        auth: z
          .object({
            existingSecret: name(
              'Secret with the bearer token /metrics requires (the ServiceMonitor sends it); empty: /metrics is open to what the NetworkPolicy admits.',
            ),
            key: secretKey('Key of the token in that Secret.'),
          })
          .strict(),
      })
      .strict(),
    serviceAccount: z
      .object({
        create: bool('Create a ServiceAccount.'),
        name: str('ServiceAccount name; empty: the full name.'),
        annotations: stringMap('ServiceAccount annotations.'),
      })
      .strict(),
    automountServiceAccountToken: bool('Mount an API token (the gateway never calls the Kubernetes API).'),
    podAnnotations: stringMap('Extra pod annotations.'),
    podLabels: stringMap('Extra pod labels.'),
    podSecurityContext: k8s('Pod securityContext (non-root, seccomp RuntimeDefault).'),
    securityContext: k8s(
      'Container securityContext (read-only root, no privilege escalation, no capabilities).',
    ),
    resources: k8s('Container resources.'),
    probes: z
      .object({
        liveness: probe('Liveness probe on /healthz.'),
        readiness: probe('Readiness probe on /readyz (503 until the JWKS is loaded).'),
        startup: probe('Startup probe on /healthz.'),
      })
      .strict(),
    preStopSleepSeconds: int(
      0,
      300,
      'Seconds to keep serving after endpoint removal, before SIGTERM; 0: no hook.',
    ),
    terminationGracePeriodSeconds: z
      .number()
      .int()
      .min(0)
      .nullable()
      .optional()
      .describe('Empty: drainTimeoutMs + graceSeconds + preStopSleepSeconds + 5 s.'),
    extraEnv: k8sList('Extra container env entries (e.g. FAPI_GATEWAY_* overrides from Secrets).'),
    extraVolumes: k8sList('Extra pod volumes.'),
    extraVolumeMounts: k8sList('Extra container volume mounts.'),
    nodeSelector: stringMap('Node selector.'),
    tolerations: k8sList('Tolerations.'),
    affinity: k8s('Affinity.'),
    priorityClassName: str('Priority class.'),
    topologySpread: z
      .object({
        enabled: bool('Spread gateway pods over the topology keys.'),
        maxSkew: int(1, 100, 'Maximum skew.'),
        whenUnsatisfiable: z.enum(['ScheduleAnyway', 'DoNotSchedule']).describe('Soft or hard spreading.'),
        topologyKeys: z.array(z.string().min(1)).describe('Node labels to spread over.'),
      })
      .strict(),
    autoscaling: z
      .object({
        enabled: bool('Render a HorizontalPodAutoscaler (autoscaling/v2).'),
        minReplicas: int(1, 1000, 'Minimum pods.'),
        maxReplicas: int(1, 1000, 'Maximum pods.'),
        targetCPUUtilizationPercentage: int(1, 100, 'Target average CPU utilisation.'),
        targetMemoryUtilizationPercentage: int(0, 100, 'Target average memory utilisation; 0: not used.'),
      })
      .strict(),
    podDisruptionBudget: z
      .object({
        enabled: bool('Render a PodDisruptionBudget.'),
        maxUnavailable: z
          .union([z.number().int().min(0), z.string().regex(/^[0-9]+%$/)])
          .describe('Pods (or percentage) a voluntary disruption may take down.'),
      })
      .strict(),
    networkPolicy: z
      .object({
        enabled: bool("Render a NetworkPolicy for the gateway's pods."),
        ingressFrom: k8sList('Peers allowed to reach the mTLS listener; empty: all.'),
        metricsFrom: k8sList('Peers allowed to reach the admin port; empty: all.'),
        egress: z
          .object({
            enabled: bool('Restrict egress to DNS, the upstream and extraRules.'),
            extraRules: k8sList("Extra egress rules (e.g. the issuer's JWKS endpoint)."),
          })
          .strict(),
        upstream: z
          .object({
            enabled: bool("Render a NetworkPolicy on the upstream's pods admitting the gateway only."),
            namespace: str("The upstream's namespace; empty: the release namespace."),
            podSelector: k8s("LabelSelector of the upstream's pods (required when enabled)."),
            ports: z.array(portNumber('port')).describe("The upstream's ports."),
          })
          .strict(),
      })
      .strict(),
    metrics: z
      .object({
        serviceMonitor: z
          .object({
            enabled: bool('Render a ServiceMonitor (Prometheus Operator CRD).'),
            interval: duration('Scrape interval.'),
            scrapeTimeout: duration('Scrape timeout.'),
            labels: stringMap('Extra labels (match your Prometheus serviceMonitorSelector).'),
          })
          .strict(),
        prometheusRule: z
          .object({
            enabled: bool('Render the alerting PrometheusRule (Prometheus Operator CRD).'),
            labels: stringMap('Extra labels (match your Prometheus ruleSelector).'),
            selector: z
              .string()
              .regex(
                /^([a-zA-Z_]\w*(=|!=|=~|!~)"[^"]*"(,[a-zA-Z_]\w*(=|!=|=~|!~)"[^"]*")*)?$/,
                'must be PromQL label matchers: a="x",b=~"y"',
              )
              .describe(
                'Label matchers scoping the alerts; empty: the ServiceMonitor job and the release namespace.',
              ),
            rejectionRatio: z
              .number()
              .gt(0)
              .lt(1)
              .describe('FapiGatewayRejectionRatioHigh: rejected/all over 5m.'),
            bindingMismatchBurst: int(
              1,
              1000000,
              'FapiGatewayBindingMismatch: binding_mismatch rejections of one client in 5m.',
            ),
            upstreamErrorRatio: z
              .number()
              .gt(0)
              .lt(1)
              .describe('FapiGatewayUpstreamErrors: upstream_error/all over 5m.'),
            jwksMaxAgeSeconds: int(60, 604800, 'FapiGatewayJwksStale: age of the cached JWKS.'),
            redisUnavailableFor: duration(
              'FapiRedisUnavailable (with redis.existingSecret): how long a pod may be without Redis.',
            ),
            certificateExpiryDays: int(
              1,
              365,
              'Fapi*CertificateExpiring / ClientCaExpiring: days before notAfter.',
            ),
          })
          .strict(),
      })
      .strict(),
    dashboard: z
      .object({
        enabled: bool('Render the Grafana dashboard ConfigMap.'),
        labels: stringMap('Labels the Grafana sidecar looks for.'),
        annotations: stringMap('Annotations (e.g. grafana_folder).'),
      })
      .strict(),
    redis: z
      .object({
        existingSecret: name(
          "Secret with the Redis URL and passwords, for the issuer's storage.type: redis and the gateway's dpop.replayStore.type: redis; the chart does not install Redis (docs/replicas.md).",
        ),
        urlKey: secretKey('Key of the redis:// or rediss:// URL.'),
        caKey: z
          .string()
          .regex(/^([-._a-zA-Z0-9]+)?$/, 'must be a Secret data key')
          .describe('Key of a PEM CA bundle for rediss:// with a private CA; empty: the system CAs.'),
        issuer: z
          .object({
            username: str('ACL user of the issuer; empty: the default user.'),
            passwordKey: z
              .string()
              .regex(/^([-._a-zA-Z0-9]+)?$/, 'must be a Secret data key')
              .describe("Key of the issuer's password; empty: no password."),
          })
          .strict(),
        gateway: z
          .object({
            username: str('ACL user of the gateway; empty: the default user.'),
            passwordKey: z
              .string()
              .regex(/^([-._a-zA-Z0-9]+)?$/, 'must be a Secret data key')
              .describe("Key of the gateway's password; empty: no password."),
          })
          .strict(),
      })
      .strict(),
    issuer: z
      .object({
        enabled: bool('Deploy the companion FAPI token issuer.'),
        replicaCount: int(0, 100, 'Issuer pods (in-memory storage needs exactly 1).'),
        image: z
          .object({
            repository: str('Issuer image repository; empty: the gateway image.'),
            tag: str("Issuer image tag; empty: the chart's appVersion."),
          })
          .strict(),
        config: ISSUER_CONFIG_PLACEHOLDER,
        tls: z
          .object({
            existingSecret: name('kubernetes.io/tls Secret for the issuer; empty: "<fullname>-issuer-tls".'),
            certKey: secretKey('Key of the certificate chain.'),
            keyKey: secretKey('Key of the private key.'),
            clientCa: z
              .object({
                existingSecret: name("CAs for tls_client_auth; empty: the gateway's client CA Secret."),
                key: secretKey('Key of the PEM bundle.'),
              })
              .strict(),
          })
          .strict(),
        signingKeysSecret: name('Secret with the signing keys, mounted at /etc/fapi-issuer/signing-keys.'),
        service: z
          .object({
            type: serviceType.describe('Issuer Service type.'),
            port: portNumber('HTTPS port.'),
            mtlsPort: portNumber('mTLS port (when config.mtls is set).'),
          })
          .strict(),
        resources: k8s('Issuer container resources.'),
        extraEnv: k8sList('Extra issuer env entries (e.g. FAPI_ISSUER_STORAGE_REDIS_URL from a Secret).'),
      })
      .strict(),
  })
  .strict();
