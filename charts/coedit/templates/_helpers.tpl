{{/* Names and labels shared by the templates. */}}

{{- define "coedit.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "coedit.operatorName" -}}
{{- printf "%s-operator" (include "coedit.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The standard labels of every object the chart renders, as one map (so that no key
can appear twice): `include "coedit.labels" (dict "root" $ "component" "operator")`,
optionally "name" (default: the chart's name) and "extra" (more labels, which win). */}}
{{- define "coedit.labels" -}}
{{- $root := .root -}}
{{- $labels := dict
  "helm.sh/chart" (printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-")
  "app.kubernetes.io/name" (default $root.Chart.Name .name)
  "app.kubernetes.io/instance" $root.Release.Name
  "app.kubernetes.io/version" ($root.Chart.AppVersion | toString | trunc 63 | trimSuffix "-")
  "app.kubernetes.io/component" .component
  "app.kubernetes.io/part-of" "coedit"
  "app.kubernetes.io/managed-by" $root.Release.Service -}}
{{- toYaml (mergeOverwrite $labels (default dict .extra)) -}}
{{- end -}}

{{/* What a workload's selector matches: name and instance (never changes on upgrade). */}}
{{- define "coedit.selectorLabels" -}}
app.kubernetes.io/name: {{ default .root.Chart.Name .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* The operator's pods carry app.kubernetes.io/name=coedit-operator: each session's
NetworkPolicy lets exactly those pods read its text nodes. */}}
{{- define "coedit.operatorLabelName" -}}coedit-operator{{- end -}}

{{- define "coedit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "coedit.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference from {repository, tag, digest}; the tag defaults to appVersion. */}}
{{- define "coedit.image" -}}
{{- $ref := printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- if .image.digest -}}{{- $ref = printf "%s@%s" $ref .image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* Namespaces the operator serves: the watched ones, else none (the whole cluster). */}}
{{- define "coedit.clusterwide" -}}
{{- if not .Values.operator.watchNamespaces }}true{{ end -}}
{{- end -}}

{{/* Kopf peering is used when more than one operator replica runs. */}}
{{- define "coedit.peering" -}}
{{- if gt (int .Values.operator.replicas) 1 }}true{{ end -}}
{{- end -}}

{{/* Namespaces that hold sessions' LLM Secrets: the release's and the watched ones. */}}
{{- define "coedit.secretNamespaces" -}}
{{- toJson (uniq (prepend (default list .Values.operator.watchNamespaces) .Release.Namespace)) -}}
{{- end -}}

{{- define "coedit.jaegerName" -}}
{{- printf "%s-jaeger" (include "coedit.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The OTLP endpoint of the chart's sessions: the value, else the chart's Jaeger. */}}
{{- define "coedit.otlpEndpoint" -}}
{{- if .Values.telemetry.otlpEndpoint -}}
{{- .Values.telemetry.otlpEndpoint -}}
{{- else if .Values.jaeger.enabled -}}
{{- printf "http://%s.%s.svc:4318" (include "coedit.jaegerName" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Ingress annotations of the chart's sessions: the defaults plus the TLS issuer's. */}}
{{- define "coedit.ingressAnnotations" -}}
{{- $annotations := deepCopy .Values.ingress.annotations -}}
{{- $tls := .Values.ingress.tls -}}
{{- if $tls.enabled -}}
{{- with $tls.certManager.clusterIssuer }}{{ $_ := set $annotations "cert-manager.io/cluster-issuer" . }}{{ end -}}
{{- with $tls.certManager.issuer }}{{ $_ := set $annotations "cert-manager.io/issuer" . }}{{ end -}}
{{- with $tls.traefik.certResolver -}}
{{- $_ := set $annotations "traefik.ingress.kubernetes.io/router.tls" "true" -}}
{{- $_ := set $annotations "traefik.ingress.kubernetes.io/router.tls.certresolver" . -}}
{{- end -}}
{{- end -}}
{{- toJson $annotations -}}
{{- end -}}

{{/* What the operator does to sessions and their children in a namespace it serves. */}}
{{- define "coedit.sessionRules" -}}
- apiGroups: [coedit.io]
  resources: [coeditsessions]
  verbs: [list, watch, patch]
- apiGroups: [coedit.io]
  resources: [coeditsessions/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch, create, get]
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [patch]
- apiGroups: [apps]
  resources: [statefulsets, deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies, ingresses]
  verbs: [list, watch, create, patch, delete]
{{- end -}}
