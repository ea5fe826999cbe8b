{{/*
Object names are fixed, not derived from the release name: the operator looks up its webhook
Service, certificate Secret and tuning ConfigMaps by these names, and config/webhook/make-cert.sh
patches them. The CRD, ClusterRole and webhook are cluster-wide, so install the chart once per
cluster.
*/}}

{{/* Helm's standard labels, added to every templated object's own. */}}
{{- define "kaito.helmLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Labels of the Deployment: config/manager's two plus Helm's. */}}
{{- define "kaito.labels" -}}
app.kubernetes.io/name: kaito-workspace
app.kubernetes.io/part-of: kaito
{{ include "kaito.helmLabels" . }}
{{- end }}

{{/* Pod labels: exactly config/manager/manager.yaml's (the selector is immutable). */}}
{{- define "kaito.podLabels" -}}
app.kubernetes.io/name: kaito-workspace
app.kubernetes.io/part-of: kaito
{{- end }}

{{/*
kaito.config: one manifest copied from config/ (files/config/<file>, written by `make chart`) as
YAML, placed in the release the way `namespace:` in config/default/kustomization.yaml places it:
namespaced objects get the release namespace, ServiceAccount subjects of bindings and the webhook's
Service reference point into it, and Helm's standard labels are added. Callers may parse the result
with fromYaml, change it, and print it with toYaml.
Usage: include "kaito.config" (dict "root" $ "file" "rbac/role.yaml")
*/}}
{{- define "kaito.config" -}}
{{- $root := .root -}}
{{- $path := printf "files/config/%s" .file -}}
{{- $obj := $root.Files.Get $path | fromYaml -}}
{{- if or (not $obj) (hasKey $obj "Error") (not (hasKey $obj "kind")) -}}
{{- fail (printf "%s is missing or not one YAML object: run `make chart`" $path) -}}
{{- end -}}
{{- $ns := $root.Release.Namespace -}}
{{- $clusterScoped := list "ClusterRole" "ClusterRoleBinding" "CustomResourceDefinition" "Namespace" "ValidatingWebhookConfiguration" "MutatingWebhookConfiguration" -}}
{{- if not (has $obj.kind $clusterScoped) -}}
{{- $_ := set $obj.metadata "namespace" $ns -}}
{{- end -}}
{{- range ($obj.subjects | default list) -}}
{{- if eq .kind "ServiceAccount" }}{{ $_ := set . "namespace" $ns }}{{ end -}}
{{- end -}}
{{- range ($obj.webhooks | default list) -}}
{{- $service := dig "clientConfig" "service" dict . -}}
{{- if $service }}{{ $_ := set $service "namespace" $ns }}{{ end -}}
{{- end -}}
{{- $labels := merge (include "kaito.helmLabels" $root | fromYaml) ($obj.metadata.labels | default dict) -}}
{{- $_ := set $obj.metadata "labels" $labels -}}
{{- toYaml $obj -}}
{{- end }}

{{- define "kaito.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .appVersion | toString) -}}
{{- end }}
