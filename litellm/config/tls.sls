# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_config_file = slsroot ~ '.config.file' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}
{#- A certificate that is missing, unreadable or not the key's fails this render: nothing changes. #}
{%- do salt['litellm.validate_pillar'](parameters=parameters) %}
{%- set tls_dir = litellm.config_dir.rstrip('/') ~ '/tls' %}

include:
  - {{ sls_config_file }}

{%- if litellm.tls_enabled and not litellm.tls.key_file %}

# PEM texts from pillar (the key ideally sdb://), written by the module: root only, no diff, no
# value in any return. systemd hands the service private copies (LoadCredential=).
{{ prefix }}-config-tls-certificate-managed:
  litellm.secret_file_managed:
    - name: {{ litellm.paths.tls_certificate }}
    - content: tls_certificate
    - require:
      - file: {{ prefix }}-config-file-config-dir-managed

{{ prefix }}-config-tls-key-managed:
  litellm.secret_file_managed:
    - name: {{ litellm.paths.tls_key }}
    - content: tls_key
    - require:
      - file: {{ prefix }}-config-file-config-dir-managed
{%- else %}

# TLS off, or given as files the formula never touches (never under this directory: the schema refuses
# that): the two copies it writes go, and nothing else.
{%- for copy in ('certificate.pem', 'key.pem') %}

{{ prefix }}-config-tls-{{ copy | replace('.pem', '') }}-copy-absent:
  file.absent:
    - name: {{ tls_dir }}/{{ copy }}
{%- endfor %}
{%- endif %}
