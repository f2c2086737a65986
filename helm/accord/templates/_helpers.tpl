{{/* Names and labels. */}}
{{- define "accord.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "accord.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "accord.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "accord.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "accord.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "accord.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: accord
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "accord.selectorLabels" -}}
app.kubernetes.io/name: {{ include "accord.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "accord.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "accord.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "accord.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "accord.appSecretName" -}}
{{- default (printf "%s-app" (include "accord.fullname" .)) .Values.appSecrets.existingSecret }}
{{- end }}

{{- define "accord.policyConfigMapName" -}}
{{- printf "%s-policy-model" (include "accord.fullname" .) }}
{{- end }}

{{/* Every store, the home store first, as a JSON list (checked: names unique). */}}
{{- define "accord.allStores" -}}
{{- $all := prepend .Values.stores .Values.homeStore }}
{{- $seen := dict }}
{{- range $all }}
{{- if hasKey $seen .name }}
{{- fail (printf "store names must be unique; '%s' is declared twice (homeStore and stores share one namespace)" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- toJson $all }}
{{- end }}

{{/* The chart-made Secret of a store: (dict "root" $ "store" $store). */}}
{{- define "accord.storeSecretName" -}}
{{- printf "%s-store-%s" (include "accord.fullname" .root) .store.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The environment variable that carries a store's URL. */}}
{{- define "accord.storeUrlVar" -}}
{{- printf "ACCORD_STORE_URL_%s" (.name | upper | replace "-" "_") }}
{{- end }}

{{/* secretKeyRef of a store's URL: (dict "root" $ "store" $store "migrator" bool). */}}
{{- define "accord.storeUrlRef" -}}
{{- $migrator := and .migrator .store.migrator (or (.store.migrator | default dict).url ((.store.migrator | default dict).existingSecret | default dict).name) }}
{{- if $migrator }}
{{- if (.store.migrator.existingSecret | default dict).name }}
name: {{ .store.migrator.existingSecret.name }}
key: {{ .store.migrator.existingSecret.key | default "url" }}
{{- else }}
name: {{ include "accord.storeSecretName" . }}
key: migratorUrl
{{- end }}
{{- else if (.store.existingSecret | default dict).name }}
name: {{ .store.existingSecret.name }}
key: {{ .store.existingSecret.key | default "url" }}
{{- else }}
name: {{ include "accord.storeSecretName" . }}
key: url
{{- end }}
{{- end }}

{{/*
The environment of every Accord container: (dict "root" $ "migrator" bool).
Each extra store's URL comes from its Secret into its own variable; ACCORD_STORES refers
to those variables with Kubernetes' $(VAR) expansion, so no URL is written in the pod spec.
*/}}
{{- define "accord.env" -}}
{{- $root := .root }}
{{- $stores := include "accord.allStores" $root | fromJsonArray }}
- name: ACCORD_ENV
  value: prod
- name: ACCORD_DATA_DIR
  value: /var/lib/accord
- name: ACCORD_LOG_LEVEL
  value: {{ $root.Values.config.logLevel | quote }}
- name: ACCORD_HOME_STORE
  value: {{ $root.Values.homeStore.name | quote }}
- name: ACCORD_HOME_REGION
  value: {{ $root.Values.homeStore.region | quote }}
- name: ACCORD_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "accord.storeUrlRef" (dict "root" $root "store" $root.Values.homeStore "migrator" .migrator) | trim | nindent 6 }}
{{- $extra := list }}
{{- range $root.Values.stores }}
- name: {{ include "accord.storeUrlVar" . }}
  valueFrom:
    secretKeyRef:
      {{- include "accord.storeUrlRef" (dict "root" $root "store" . "migrator" $.migrator) | trim | nindent 6 }}
{{- $extra = append $extra (dict "name" .name "region" .region "url" (printf "$(%s)" (include "accord.storeUrlVar" .))) }}
{{- end }}
- name: ACCORD_STORES
  value: {{ toJson $extra | quote }}
- name: ACCORD_POOL_SIZE
  value: {{ $root.Values.config.poolSize | quote }}
- name: ACCORD_POOL_MAX_OVERFLOW
  value: {{ $root.Values.config.poolMaxOverflow | quote }}
- name: ACCORD_RATE_LIMIT_PER_SECOND
  value: {{ $root.Values.config.rateLimitPerSecond | quote }}
- name: ACCORD_RATE_LIMIT_BURST
  value: {{ $root.Values.config.rateLimitBurst | quote }}
{{- with $root.Values.config.telemetryEndpoint }}
- name: ACCORD_TELEMETRY_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if not .migrator }}
- name: ACCORD_POLICY_MODEL
  value: /etc/accord/policy/model.conf
- name: ACCORD_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "accord.appSecretName" $root }}
      key: secretKey
- name: ACCORD_CURSOR_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "accord.appSecretName" $root }}
      key: cursorSecret
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Writable places under a read-only root filesystem, and the policy model. */}}
{{- define "accord.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
- name: data
  emptyDir:
    sizeLimit: 256Mi
{{- if .policy }}
- name: policy-model
  configMap:
    name: {{ include "accord.policyConfigMapName" .root }}
{{- end }}
{{- end }}

{{- define "accord.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/accord
{{- if .policy }}
- name: policy-model
  mountPath: /etc/accord/policy
  readOnly: true
{{- end }}
{{- end }}

{{/* The pod spec of a run-to-completion Accord command: (dict "root" $ "args" list "component" name "migrator" bool "resources" map "deadline" int). */}}
{{- define "accord.jobPod" -}}
{{- $root := .root }}
metadata:
  labels:
    {{- include "accord.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  restartPolicy: Never
  {{- if .migrator }}
  automountServiceAccountToken: false
  {{- else }}
  serviceAccountName: {{ include "accord.serviceAccountName" $root }}
  automountServiceAccountToken: false
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- with $root.Values.api.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.api.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "accord.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      env:
        {{- include "accord.env" (dict "root" $root "migrator" .migrator) | trim | nindent 8 }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        {{- include "accord.volumeMounts" (dict "root" $root "policy" (not .migrator)) | trim | nindent 8 }}
  volumes:
    {{- include "accord.volumes" (dict "root" $root "policy" (not .migrator)) | trim | nindent 4 }}
{{- end }}
