# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_package_install = slsroot ~ '.package.install' %}
{%- set sls_user_account = slsroot ~ '.user.account' %}
{%- set sls_ownership = slsroot ~ '.ownership' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_ownership }}
  - {{ sls_package_install }}
  - {{ sls_user_account }}

{{ prefix }}-config-file-config-dir-managed:
  file.directory:
    - name: {{ litellm.config_dir }}
    - user: root
    - group: {{ litellm.service_group }}
    - mode: '0750'
    - require:
      - sls: {{ sls_ownership }}
      - sls: {{ sls_user_account }}

{{ prefix }}-config-file-config-managed:
  file.managed:
    - name: {{ litellm.paths.config_file }}
    - source: salt://{{ tplroot }}/files/default/config.yaml.jinja
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: {{ litellm.service_group }}
    - mode: '0640'
    # LiteLLM itself checks the new file before it replaces the live one.
    - check_cmd: {{ litellm.check_config_cmd | json }}
    - require:
      - file: {{ prefix }}-config-file-config-dir-managed
      - sls: {{ sls_package_install }}

{%- if litellm.log_level == 'DEBUG' %}

# Said on every apply: DEBUG logs request details into the journal and costs 4x in throughput.
{{ prefix }}-config-file-debug-logging-warned:
  test.configurable_test_state:
    - changes: false
    - result: true
    - comment: >-
        WARNING: litellm:log_level is DEBUG. LiteLLM then logs request details (prompts, headers,
        backend answers) to the journal and serves about 4x fewer requests. Use it only to debug,
        on a proxy without real traffic, and set WARNING (the default) again after.
    - warnings:
      - "litellm:log_level is DEBUG: request details go to the journal; never in production"
{%- endif %}
