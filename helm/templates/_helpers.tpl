{{- define "tc.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tc.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tc.labels" -}}
app.kubernetes.io/name: {{ include "tc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tc.claimName" -}}
{{- .Values.engines.pvc.existingClaim | default (printf "%s-engines" (include "tc.fullname" .)) -}}
{{- end -}}

{{- /*
The pieces of a pod that runs the app on the engines, shared by the Deployment and the batch Job so
both get the engines the same way. Each renders at indent 0; callers nindent it.
*/ -}}

{{- /* The init container that builds the engines into their volume, or nothing (engines baked in, or built elsewhere). */ -}}
{{- define "tc.initContainers" -}}
{{- if and .Values.engines.build.enabled (ne .Values.engines.volume "image") -}}
initContainers:
  - name: build-engines
    image: "{{ .Values.engines.build.image.repository }}:{{ .Values.engines.build.image.tag | default .Chart.AppVersion }}"
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
      {{- toYaml .Values.engines.build.args | nindent 6 }}
    env:
      - name: ENGINES_DIR
        value: /engines
      - name: CONVERT_CACHE_DIR
        value: /cache/hub
      - name: BUN_RUNTIME_TRANSPILER_CACHE_PATH
        value: "0"
      - name: MAX_BATCH_SIZE
        value: {{ .Values.env.MAX_BATCH_SIZE | quote }}
      {{- if .Values.engines.build.hfEndpoint }}
      - name: HF_ENDPOINT
        value: {{ .Values.engines.build.hfEndpoint | quote }}
      {{- end }}
      {{- if .Values.engines.build.hfTokenSecret }}
      - name: HF_TOKEN
        valueFrom:
          secretKeyRef:
            name: {{ .Values.engines.build.hfTokenSecret }}
            key: HF_TOKEN
      {{- end }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    resources:
      {{- /* trtexec needs the GPU it builds for; it ends before the app starts, so the pod still needs one GPU. */}}
      {{- include "tc.gpuResources" (dict "resources" .Values.engines.build.resources "gpu" .Values.gpu) | nindent 6 }}
    volumeMounts:
      - name: engines
        mountPath: /engines
      - name: cache
        mountPath: /cache
      - name: tmp
        mountPath: /tmp
{{- end -}}
{{- end -}}

{{- /* Resources with the GPU limit added when the chart runs on GPUs: (dict "resources" R "gpu" .Values.gpu). */ -}}
{{- define "tc.gpuResources" -}}
{{- $resources := deepCopy .resources -}}
{{- if .gpu.enabled -}}
{{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" .gpu.count) ($resources.limits | default dict)) -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{- /* The app container's mounts of the engines (read-only; none when baked into the image) and of /tmp. */ -}}
{{- define "tc.appVolumeMounts" -}}
{{- if ne .Values.engines.volume "image" -}}
- name: engines
  mountPath: /engines
  readOnly: true
{{ end -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- /* The volumes those mounts and the init container use. */ -}}
{{- define "tc.appVolumes" -}}
{{- if eq .Values.engines.volume "pvc" -}}
- name: engines
  persistentVolumeClaim:
    claimName: {{ include "tc.claimName" . }}
{{ else if eq .Values.engines.volume "emptyDir" -}}
- name: engines
  emptyDir:
    sizeLimit: {{ .Values.engines.emptyDirSizeLimit }}
{{ end -}}
- name: cache
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}
