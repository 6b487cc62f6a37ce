{{/* Names: <release>-triton-speech unless the release name already says it, cut to 63 characters (DNS). */}}
{{- define "triton-speech.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "triton-speech.fullname" -}}
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

{{/* One name per component: leaves room for the component suffix within 63 characters. */}}
{{- define "triton-speech.triton" -}}
{{- printf "%s-triton" (include "triton-speech.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "triton-speech.gateway" -}}
{{- printf "%s-gateway" (include "triton-speech.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "triton-speech.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "triton-speech.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: include with (dict "root" $ "component" "triton"). */}}
{{- define "triton-speech.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triton-speech.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "triton-speech.componentLabels" -}}
{{ include "triton-speech.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "triton-speech.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "triton-speech.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference: include with (dict "image" .Values.triton.image "root" $). */}}
{{- define "triton-speech.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "triton-speech.adminKeySecretName" -}}
{{- default (printf "%s-admin-key" (include "triton-speech.triton" .)) .Values.triton.adminKey.existingSecret }}
{{- end }}

{{/* The custom metric the HPA scales on: the name the Prometheus adapter rule gives its query. */}}
{{- define "triton-speech.autoscalingMetric" -}}
triton_queue_us_per_request
{{- end }}

{{/* Scheme of the object-storage model repository (s3, gs, as), empty for a volume. */}}
{{- define "triton-speech.repositoryScheme" -}}
{{- with .Values.triton.modelRepository.url }}{{ regexFind "^[a-z0-9]+" . }}{{ end }}
{{- end }}

{{/* Where the launcher reads the repository: the object-storage URL or the volume's mount path. */}}
{{- define "triton-speech.repositoryLocation" -}}
{{- default .Values.triton.modelRepository.mountPath .Values.triton.modelRepository.url }}
{{- end }}

{{/*
The pod's whole termination grace: the preStop drain, then Triton's own exit timeout (TRITON_GRACE_SECONDS), then
the launcher's 5 s before it kills a Triton still stopping, plus 5 s of slack: the kubelet never kills the launcher
while it is still shutting Triton down cleanly.
*/}}
{{- define "triton-speech.terminationGracePeriod" -}}
{{- add .Values.triton.drainSeconds .Values.triton.graceSeconds 10 }}
{{- end }}

{{/*
Environment variables read from a Secret, one per key: include with (dict "secret" NAME "required" (list ...)
"optional" (list ...)). Nothing else in the Secret reaches the container.
*/}}
{{- define "triton-speech.secretEnv" -}}
{{- range $optional, $keys := dict "false" (default (list) .required) "true" (default (list) .optional) }}
{{- range $keys }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secret }}
      key: {{ . }}
      optional: {{ $optional }}
{{- end }}
{{- end }}
{{- end }}

{{/* The AWS variables of an S3 credentials Secret (as Triton's and boto3's clients read them). */}}
{{- define "triton-speech.awsEnv" -}}
{{- include "triton-speech.secretEnv" (dict "secret" .secret "required" (list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY")
    "optional" (list "AWS_SESSION_TOKEN" "AWS_DEFAULT_REGION")) | trim }}
{{- end }}
