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

# A crash loop leaves the unit failed and refusing starts; restarts by Salt count against
# StartLimitBurst= too. Clear both so the start or restart below is not refused.
{{ tplroot }}-service-running-unit-reset:
  litellm.unit_reset:
    - name: {{ litellm.service_name }}
    - require:
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
      - litellm: {{ tplroot }}-service-running-unit-reset

# After a (re)start: bounded wait until the proxy answers and serves every model.
{{ tplroot }}-service-running-proxy-healthy:
  litellm.healthy:
    - name: {{ litellm.service_name }}
    - timeout: {{ litellm.startup_timeout }}
    - tplroot: {{ tplroot }}
    - onchanges:
      - service: {{ tplroot }}-service-running-service-running
