# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_config_file = slsroot ~ '.config.file' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}
{#- A missing, empty or weak master key fails this render: nothing runs, nothing changes. #}
{%- do salt['litellm.validate_pillar'](parameters=parameters) %}

include:
  - {{ sls_config_file }}

# Root-only: systemd reads environment files before it drops privileges. Written by the module, like
# the key: pillar's environment values and extra_config's secrets (sdb:// resolved) appear in no
# rendered SLS, diff or state return (names only).
{{ prefix }}-config-environ-env-file-managed:
  litellm.secret_file_managed:
    - name: {{ litellm.paths.env_file }}
    - content: environment
    - require:
      - file: {{ prefix }}-config-file-config-dir-managed

{%- if litellm.master_key_source == 'generate' %}

# The minion creates its own key once and keeps it; litellm.rotate_master_key replaces it.
{{ prefix }}-config-environ-master-key-generated:
  litellm.master_key_generated:
    - name: {{ litellm.paths.master_key_file }}
    - require:
      - file: {{ prefix }}-config-file-config-dir-managed
{%- else %}

# The key is read from pillar (or resolved through sdb, once per apply: the value validated above)
# inside the state, so it is in neither the rendered SLS nor the state return (fingerprints only).
{{ prefix }}-config-environ-master-key-file-managed:
  litellm.master_key_managed:
    - name: {{ litellm.paths.master_key_file }}
    - require:
      - file: {{ prefix }}-config-file-config-dir-managed
{%- endif %}
