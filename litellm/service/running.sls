# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_package_install = tplroot ~ '.package.install' %}
{%- set sls_user_account = tplroot ~ '.user.account' %}
{%- set sls_config_file = tplroot ~ '.config.file' %}
{%- set sls_config_environ = tplroot ~ '.config.environ' %}
{%- set sls_service_unit = tplroot ~ '.service.unit' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_package_install }}
  - {{ sls_user_account }}
  - {{ sls_config_file }}
  - {{ sls_config_environ }}
  - {{ sls_service_unit }}

# Restarts by Salt count against StartLimitBurst= like crash restarts do: a few applies in a row
# must not leave the unit refusing to start. Only when a restart is coming.
{{ tplroot }}-service-running-start-limit-reset:
  cmd.run:
    - name: systemctl reset-failed {{ litellm.service_name }}.service
    # 1: the unit is not loaded yet (first apply): nothing to reset.
    - success_retcodes: [1]
    - onchanges:
      - sls: {{ sls_package_install }}
      - sls: {{ sls_config_file }}
      - sls: {{ sls_config_environ }}
      - sls: {{ sls_service_unit }}

# One restart per apply whatever changed; none when nothing did.
{{ tplroot }}-service-running-service-running:
  service.running:
    - name: {{ litellm.service_name }}
    - enable: true
    - watch:
      - sls: {{ sls_package_install }}
      - sls: {{ sls_config_file }}
      - sls: {{ sls_config_environ }}
      - sls: {{ sls_service_unit }}
    - require:
      - sls: {{ sls_user_account }}
      - cmd: {{ tplroot }}-service-running-start-limit-reset

# After a (re)start: bounded wait until the proxy answers and serves every model.
{{ tplroot }}-service-running-proxy-healthy:
  litellm.healthy:
    - name: {{ litellm.service_name }}
    - timeout: {{ litellm.startup_timeout }}
    - tplroot: {{ tplroot }}
    - onchanges:
      - service: {{ tplroot }}-service-running-service-running
