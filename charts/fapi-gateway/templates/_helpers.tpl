{{/* Names follow the Helm starter chart's conventions (63-character DNS label limit). */}}
{{- define "fapi-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fapi-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "fapi-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fapi-gateway.labels" -}}
helm.sh/chart: {{ include "fapi-gateway.chart" . }}
app.kubernetes.io/name: {{ include "fapi-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fapi-gateway
{{- end }}

{{/* Selector labels of the gateway pods (component distinguishes them from the issuer's). */}}
{{- define "fapi-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fapi-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "fapi-gateway.issuerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "fapi-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: issuer
{{- end }}

{{- define "fapi-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fapi-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fapi-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "fapi-gateway.issuerImage" -}}
{{- if .Values.issuer.image.repository }}
{{- printf "%s:%s" .Values.issuer.image.repository (default .Chart.AppVersion .Values.issuer.image.tag) }}
{{- else }}
{{- include "fapi-gateway.image" . }}
{{- end }}
{{- end }}

{{/* Secret names: explicit, or the "<fullname>-..." convention (cert-manager writes "<fullname>-tls"). */}}
{{- define "fapi-gateway.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "fapi-gateway.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{- define "fapi-gateway.clientCaSecretName" -}}
{{- default (printf "%s-client-ca" (include "fapi-gateway.fullname" .)) .Values.tls.clientCa.existingSecret }}
{{- end }}

{{/* Where the Secrets are mounted; the rendered configuration points into these folders. */}}
{{- define "fapi-gateway.paths" -}}
config: /etc/fapi-gateway/config
tls: /etc/fapi-gateway/tls
clientCa: /etc/fapi-gateway/client-ca
upstreamCa: /etc/fapi-gateway/upstream-ca
jwksCa: /etc/fapi-gateway/jwks-ca
introspectionClient: /etc/fapi-gateway/introspection-client
metricsAuth: /etc/fapi-gateway/metrics-auth
dpopNonce: /etc/fapi-gateway/dpop-nonce
redis: /etc/fapi-gateway/redis
{{- end }}

{{/* "true" when the gateway's DPoP replay store is Redis with its URL and password from redis.existingSecret. */}}
{{- define "fapi-gateway.redisReplayStore" -}}
{{- $store := ((.Values.config.dpop | default dict).replayStore | default dict) }}
{{- if and (eq ($store.type | default "memory") "redis") .Values.redis.existingSecret }}true{{ end }}
{{- end }}

{{/*
The gateway configuration file: the user's `config` plus the file paths the chart owns (they point at
the mounted Secrets). values.schema.json does not accept those paths under `config`, so nothing here
overrides a user value.
*/}}
{{- define "fapi-gateway.gatewayConfig" -}}
{{- $paths := include "fapi-gateway.paths" . | fromYaml }}
{{- $config := deepCopy .Values.config }}
{{- $tls := deepCopy (default (dict) $config.tls) }}
{{- $_ := set $tls "cert" (printf "%s/%s" $paths.tls .Values.tls.certKey) }}
{{- $_ := set $tls "key" (printf "%s/%s" $paths.tls .Values.tls.keyKey) }}
{{- $_ := set $tls "clientCa" (printf "%s/%s" $paths.clientCa .Values.tls.clientCa.key) }}
{{- $_ := set $config "tls" $tls }}
{{- /* The admin listener defaults to loopback; in a pod it must answer the kubelet and Prometheus on the
     pod's address, and the chart's NetworkPolicy (networkPolicy.metricsFrom) says who may reach it. */}}
{{- $admin := deepCopy (default (dict) $config.admin) }}
{{- if not (hasKey $admin "host") }}
{{- $_ := set $admin "host" "0.0.0.0" }}
{{- end }}
{{- if .Values.metricsService.auth.existingSecret }}
{{- $_ := set $admin "metricsAuth" (dict "bearerTokenFile" (printf "%s/%s" $paths.metricsAuth .Values.metricsService.auth.key)) }}
{{- end }}
{{- $_ := set $config "admin" $admin }}
{{- if .Values.tls.upstreamCa.existingSecret }}
{{- $upstream := deepCopy $config.upstream }}
{{- $_ := set $upstream "ca" (printf "%s/%s" $paths.upstreamCa .Values.tls.upstreamCa.key) }}
{{- $_ := set $config "upstream" $upstream }}
{{- end }}
{{- if .Values.tls.jwksCa.existingSecret }}
{{- $tokens := deepCopy $config.tokens }}
{{- $_ := set $tokens "jwksCa" (printf "%s/%s" $paths.jwksCa .Values.tls.jwksCa.key) }}
{{- $_ := set $config "tokens" $tokens }}
{{- end }}
{{- $introspection := (default (dict) $config.tokens).introspection }}
{{- if and $introspection .Values.tls.introspectionClient.existingSecret }}
{{- $auth := default (dict) $introspection.auth }}
{{- $dir := $paths.introspectionClient }}
{{- $creds := .Values.tls.introspectionClient }}
{{- if eq (toString $auth.method) "tls_client_auth" }}
{{- $_ := set $auth "cert" (printf "%s/%s" $dir $creds.certKey) }}
{{- $_ := set $auth "key" (printf "%s/%s" $dir $creds.keyKey) }}
{{- else if eq (toString $auth.method) "private_key_jwt" }}
{{- $_ := set $auth "keyFile" (printf "%s/%s" $dir $creds.assertionKeyKey) }}
{{- end }}
{{- $_ := set $introspection "auth" $auth }}
{{- end }}
{{- if include "fapi-gateway.redisReplayStore" . }}
{{- $dpop := deepCopy (default (dict) $config.dpop) }}
{{- $store := deepCopy (default (dict) $dpop.replayStore) }}
{{- with .Values.redis.gateway.username }}{{ $_ := set $store "username" . }}{{ end }}
{{- with .Values.redis.caKey }}{{ $_ := set $store "ca" (printf "%s/%s" $paths.redis .) }}{{ end }}
{{- $_ := set $dpop "replayStore" $store }}
{{- $_ := set $config "dpop" $dpop }}
{{- end }}
{{- if .Values.dpop.nonceSecret.existingSecret }}
{{- $dpop := deepCopy (default (dict) $config.dpop) }}
{{- $nonce := deepCopy (default (dict) $dpop.nonce) }}
{{- $_ := set $nonce "secretFile" (printf "%s/%s" $paths.dpopNonce .Values.dpop.nonceSecret.key) }}
{{- $_ := set $dpop "nonce" $nonce }}
{{- $_ := set $config "dpop" $dpop }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The introspection client authentication method, or "" when tokens.introspection is not configured. */}}
{{- define "fapi-gateway.introspectionMethod" -}}
{{- $introspection := (default (dict) .Values.config.tokens).introspection }}
{{- if $introspection }}{{ (default (dict) $introspection.auth).method }}{{ end }}
{{- end }}

{{- define "fapi-gateway.listenPort" -}}
{{- (.Values.config.listen | default dict).port | default 8443 }}
{{- end }}

{{- define "fapi-gateway.adminPort" -}}
{{- (.Values.config.admin | default dict).port | default 9464 }}
{{- end }}

{{/* SIGTERM drains in-flight requests for shutdown.drainTimeoutMs; Kubernetes must wait longer than that. */}}
{{- define "fapi-gateway.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- $shutdown := .Values.config.shutdown | default dict }}
{{- $drainMs := $shutdown.drainTimeoutMs | default 10000 }}
{{- $graceSeconds := ternary $shutdown.graceSeconds 5 (hasKey $shutdown "graceSeconds") }}
{{- add (div (add $drainMs 999) 1000) $graceSeconds .Values.preStopSleepSeconds 5 }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Label matchers that scope alert expressions to this release's scrape targets. */}}
{{- define "fapi-gateway.metricsSelector" -}}
{{- if .Values.metrics.prometheusRule.selector }}
{{- .Values.metrics.prometheusRule.selector }}
{{- else -}}
job="{{ include "fapi-gateway.fullname" . }}-metrics",namespace="{{ .Release.Namespace }}"
{{- end }}
{{- end }}

{{- define "fapi-gateway.issuerPaths" -}}
config: /etc/fapi-issuer/config
tls: /etc/fapi-issuer/tls
clientCa: /etc/fapi-issuer/client-ca
signingKeys: /etc/fapi-issuer/signing-keys
redis: /etc/fapi-issuer/redis
{{- end }}

{{/* The issuer's configuration file: the user's issuer.config plus the TLS paths the chart owns. */}}
{{- define "fapi-gateway.issuerConfig" -}}
{{- $paths := include "fapi-gateway.issuerPaths" . | fromYaml }}
{{- $i := .Values.issuer }}
{{- $config := deepCopy $i.config }}
{{- $tls := deepCopy (default (dict) $config.tls) }}
{{- $_ := set $tls "cert" (printf "%s/%s" $paths.tls $i.tls.certKey) }}
{{- $_ := set $tls "key" (printf "%s/%s" $paths.tls $i.tls.keyKey) }}
{{- $_ := set $tls "clientCa" (printf "%s/%s" $paths.clientCa $i.tls.clientCa.key) }}
{{- $_ := set $config "tls" $tls }}
{{- $storage := deepCopy (default (dict) $config.storage) }}
{{- if and (eq ($storage.type | default "memory") "redis") .Values.redis.existingSecret }}
{{- $redis := deepCopy (default (dict) $storage.redis) }}
{{- with .Values.redis.issuer.username }}{{ $_ := set $redis "username" . }}{{ end }}
{{- with .Values.redis.caKey }}{{ $_ := set $redis "ca" (printf "%s/%s" $paths.redis .) }}{{ end }}
{{- if $redis }}{{ $_ := set $storage "redis" $redis }}{{ end }}
{{- $_ := set $config "storage" $storage }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* Environment of a component that connects to Redis: the URL and its password from redis.existingSecret. */}}
{{- define "fapi-gateway.redisEnv" -}}
{{- $r := .root.Values.redis }}
- name: {{ .prefix }}_URL
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ $r.urlKey }}
{{- with .passwordKey }}
- name: {{ $.prefix }}_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $r.existingSecret }}
      key: {{ . }}
{{- end }}
{{- end }}

{{- define "fapi-gateway.issuerAdminPort" -}}
{{- (.Values.issuer.config.admin | default dict).port | default 9465 }}
{{- end }}
