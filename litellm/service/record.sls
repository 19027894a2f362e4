# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_package_install = slsroot ~ '.package.install' %}
{%- set sls_config_file = slsroot ~ '.config.file' %}
{%- set sls_config_environ = slsroot ~ '.config.environ' %}
{%- set sls_service_unit = slsroot ~ '.service.unit' %}
{%- set sls_service_switch = slsroot ~ '.service.switch' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_package_install }}
  - {{ sls_config_file }}
  - {{ sls_config_environ }}
  - {{ sls_service_unit }}
  - {{ sls_service_switch }}

# What this apply deployed (no secret), written once the files it describes are in place. The
# litellm.* functions that operate the proxy read it instead of pillar (README "Operations").
{{ prefix }}-service-record-dir-managed:
  file.directory:
    - name: {{ litellm.record_dir }}
    - user: root
    - group: root
    - mode: '0700'

{{ prefix }}-service-record-file-managed:
  file.managed:
    - name: {{ litellm.record_file }}
    - contents: {{ litellm.files.record | json }}
    - user: root
    - group: root
    - mode: '0600'
    - require:
      - file: {{ prefix }}-service-record-dir-managed
      - sls: {{ sls_package_install }}
      - sls: {{ sls_config_file }}
      - sls: {{ sls_config_environ }}
      - sls: {{ sls_service_unit }}
      - sls: {{ sls_service_switch }}
