{{- define "agentops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agentops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "agentops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "agentops.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* SQLite unless a database URL (or a Secret holding one) is given. */}}
{{- define "agentops.sqlite" -}}
{{- if or .Values.database.url .Values.database.existingSecret -}}false{{- else -}}true{{- end -}}
{{- end -}}

{{- define "agentops.replicas" -}}
{{- if eq (include "agentops.sqlite" .) "true" -}}1{{- else -}}{{ int .Values.replicaCount }}{{- end -}}
{{- end -}}

{{- define "agentops.keySecret" -}}
{{- default (printf "%s-keys" (include "agentops.fullname" .)) .Values.instanceKey.existingSecret -}}
{{- end -}}
