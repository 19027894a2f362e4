# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_config_file = tplroot ~ '.config.file' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}
{#- A missing, empty or weak master key fails this render: nothing runs, nothing changes. #}
{%- do salt['litellm.validate_pillar'](tplroot=tplroot) %}

include:
  - {{ sls_config_file }}

# Root-only: systemd reads environment files before it drops privileges.
{{ tplroot }}-config-environ-env-file-managed:
  file.managed:
    - name: {{ litellm.paths.env_file }}
    - source: salt://{{ tplroot }}/files/default/litellm.env.jinja
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - file: {{ tplroot }}-config-file-config-dir-managed

{%- if litellm.master_key_source == 'generate' %}

# The minion creates its own key once and keeps it; litellm.rotate_master_key replaces it.
{{ tplroot }}-config-environ-master-key-generated:
  litellm.master_key_generated:
    - name: {{ litellm.paths.master_key_file }}
    - require:
      - file: {{ tplroot }}-config-file-config-dir-managed
{%- else %}

{{ tplroot }}-config-environ-master-key-file-managed:
  file.managed:
    - name: {{ litellm.paths.master_key_file }}
    - source: salt://{{ tplroot }}/files/default/master_key.env.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    # The key is read from pillar (or sdb) inside the template, so it is in neither the rendered SLS
    # nor the state return.
    - show_changes: false
    - require:
      - file: {{ tplroot }}-config-file-config-dir-managed
{%- endif %}
