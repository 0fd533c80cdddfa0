{{- define "lanner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lanner.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lanner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lanner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lanner.labels" -}}
{{ include "lanner.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "lanner.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lanner.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The configuration drop-in (/etc/lanner/config.d/50-helm.yaml). */}}
{{- define "lanner.config" -}}
{{- $o := .Values.outputs -}}
{{- $c := dict
  "json_output" $o.json
  "json_include_output_property" $o.jsonIncludeOutputProperty
  "json_include_tags_property" $o.jsonIncludeTagsProperty
  "buffered_outputs" $o.buffered
  "log_level" .Values.logging.level
  "log_format" .Values.logging.format
  "stdout_output" (dict "enabled" $o.stdout.enabled)
  "host_root" "/host"
  "webserver" (dict
    "enabled" true
    "listen_address" "0.0.0.0"
    "listen_port" (int .Values.webserver.port)
    "health" (dict
      "max_event_gap_seconds" .Values.webserver.health.maxEventGapSeconds
      "max_drop_ratio" .Values.webserver.health.maxDropRatio))
-}}
{{- if .Values.webserver.metricsTokenSecret -}}
{{- $_ := set $c.webserver "metrics_token_file" "/etc/lanner/secrets/metrics-token/token" -}}
{{- end -}}
{{- if .Values.webserver.tlsSecret -}}
{{- $_ := set $c.webserver "tls" (dict "enabled" true "cert_file" "/etc/lanner/secrets/tls/tls.crt" "key_file" "/etc/lanner/secrets/tls/tls.key") -}}
{{- end -}}
{{- if $o.file.enabled -}}
{{- $_ := set $c "file_output" (dict "enabled" true "keep_alive" $o.file.keepAlive "filename" $o.file.filename) -}}
{{- end -}}
{{- if $o.program.enabled -}}
{{- if not $o.program.program -}}{{- fail "outputs.program.enabled needs outputs.program.program" -}}{{- end -}}
{{- $_ := set $c "program_output" (dict "enabled" true "keep_alive" $o.program.keepAlive "program" $o.program.program) -}}
{{- end -}}
{{- if $o.nats.enabled -}}
{{- $n := $o.nats -}}
{{- if not $n.servers -}}{{- fail "outputs.nats.enabled needs outputs.nats.servers" -}}{{- end -}}
{{- $grants := list -}}
{{- range $n.servers -}}
{{- $hostport := regexReplaceAll "^[a-z]+://" . "" -}}
{{- if not (regexMatch ":[0-9]+$" $hostport) -}}{{- fail (printf "outputs.nats.servers: %s: give the port (nats://host:4222)" .) -}}{{- end -}}
{{- $grants = append $grants $hostport -}}
{{- end -}}
{{- $init := dict "servers" $n.servers "timeout_ms" (int $n.timeoutMs) "retry_ms" (int $n.retryMs) -}}
{{- if $n.subject -}}{{- $_ := set $init "subject" $n.subject -}}{{- end -}}
{{- if $n.stream -}}{{- $_ := set $init "stream" $n.stream -}}{{- end -}}
{{- $dirs := list -}}
{{- if $n.tokenSecret -}}
{{- $_ := set $init "credentials" (dict "token_file" "/nats-token/token") -}}
{{- $dirs = append $dirs (dict "host" "/etc/lanner/secrets/nats-token" "guest" "/nats-token" "mode" "ro") -}}
{{- end -}}
{{- if $n.caSecret -}}
{{- $_ := set $init "tls" (dict "ca_file" "/nats-ca/ca.crt") -}}
{{- $dirs = append $dirs (dict "host" "/etc/lanner/secrets/nats-ca" "guest" "/nats-ca" "mode" "ro") -}}
{{- end -}}
{{- $grants := dict "tcp" $grants -}}
{{- if $dirs -}}{{- $_ := set $grants "dirs" $dirs -}}{{- end -}}
{{- /* Above the plugin's retry_ms plus one timeout: the runtime's deadline counts waits. */ -}}
{{- $limits := dict "call_timeout_ms" (add (int $n.retryMs) (mul 2 (int $n.timeoutMs)) 5000) -}}
{{- $_ := set $c "plugin_outputs" (list (dict "name" "nats" "plugin" "nats" "priority" $n.priority "init_config" $init "grants" $grants "limits" $limits)) -}}
{{- end -}}
{{- if not .Values.rules.default -}}
{{- $_ := set $c "rules_files" (list "/etc/lanner/rules.d") -}}
{{- end -}}
{{- $c = mustMergeOverwrite $c (deepCopy .Values.config) -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "lanner.hasRules" -}}
{{- if or .Values.rules.inline .Values.rules.configMaps -}}true{{- end -}}
{{- end -}}

{{- define "lanner.hasPlugins" -}}
{{- if or .Values.plugins.list .Values.plugins.configMaps -}}true{{- end -}}
{{- end -}}
