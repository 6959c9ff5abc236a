{{/*
Shared pieces. Every component is named after its security group
(deploy/security-groups/<component>.yaml); the generated NetworkPolicies select
pods by app.kubernetes.io/instance and app.kubernetes.io/component.
*/}}

{{- define "roboshop.labels" -}}
{{ include "roboshop.selectorLabels" . }}
app.kubernetes.io/part-of: roboshop
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
{{- end }}

{{- define "roboshop.selectorLabels" -}}
app.kubernetes.io/name: roboshop
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* An image built from this repository: <registry>/<repository>/<component>:<tag>. */}}
{{- define "roboshop.image" -}}
{{- $image := printf "%s/%s:%s" .ctx.Values.image.repository .component (default .ctx.Chart.AppVersion .ctx.Values.image.tag) -}}
{{- if .ctx.Values.image.registry -}}
{{ printf "%s/%s" (trimSuffix "/" .ctx.Values.image.registry) $image }}
{{- else -}}
{{ $image }}
{{- end -}}
{{- end }}

{{/* Pod Security "restricted": non-root, RuntimeDefault seccomp. */}}
{{- define "roboshop.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "roboshop.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end }}

{{/* A rollout never takes a replica away before its successor is Ready. */}}
{{- define "roboshop.rollingUpdate" -}}
strategy:
  type: RollingUpdate
  rollingUpdate: {maxUnavailable: 0, maxSurge: 25%}
{{- end }}

{{/* A stopping pod keeps serving while kube-proxy and the callers' nginx
stop sending it new connections (the endpoint goes at once, the rules a
moment later), then shuts down gracefully: measured by the rollout under
load on a real node (deploy/kube/node_test.go). */}}
{{- define "roboshop.drain" -}}
lifecycle:
  preStop:
    sleep: {seconds: 5}
{{- end }}

{{/* The parts every pod spec shares: no API token, no service links (they
would add USER_PORT and the like to the environment), pull secrets. */}}
{{- define "roboshop.podCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Spread a Deployment's replicas over zones, then nodes. */}}
{{- define "roboshop.spread" -}}
{{- if .ctx.Values.topologySpread.enabled }}
topologySpreadConstraints:
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: 1
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    matchLabelKeys: [pod-template-hash]
    labelSelector:
      matchLabels:
        {{- include "roboshop.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret whose key "uri" a service connects to its datastore with. */}}
{{- define "roboshop.datastoreSecret" -}}
{{- $ds := index .ctx.Values.datastores .key -}}
{{- if $ds.external.existingSecret -}}
{{ $ds.external.existingSecret }}
{{- else -}}
{{ .name }}-credentials
{{- end -}}
{{- end }}

{{/* Whether a datastore runs in the cluster ("true") or is external (""). */}}
{{- define "roboshop.inCluster" -}}
{{- $ds := index .ctx.Values.datastores .key -}}
{{- if not (or $ds.external.uri $ds.external.existingSecret) }}true{{ end -}}
{{- end }}

{{/* A password: the value given, else the one an earlier install stored in
the Secret, else a new random one. */}}
{{- define "roboshop.password" -}}
{{- if .given -}}
{{ .given }}
{{- else -}}
{{- $secret := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $secret (hasKey $secret.data .field) -}}
{{ index $secret.data .field | b64dec }}
{{- else -}}
{{ randAlphaNum 32 }}
{{- end -}}
{{- end -}}
{{- end }}

{{/* The four datastores: values key, name (its security group), owner, port. */}}
{{- define "roboshop.datastores" -}}
userMongodb: {name: user-mongodb, owner: user, kind: mongodb, port: 27017, database: users, env: MONGO_URI}
catalogueMongodb: {name: catalogue-mongodb, owner: catalogue, kind: mongodb, port: 27017, database: catalogue, env: MONGO_URI}
cartRedis: {name: cart-redis, owner: cart, kind: redis, port: 6379, database: "0", env: REDIS_URL}
paymentMysql: {name: payment-mysql, owner: payment, kind: mysql, port: 3306, database: payment, env: MYSQL_DSN}
{{- end }}
