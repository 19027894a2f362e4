# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_package_install = slsroot ~ '.package.install' %}
{%- set sls_user_account = slsroot ~ '.user.account' %}
{%- set sls_config_file = slsroot ~ '.config.file' %}
{%- set sls_config_environ = slsroot ~ '.config.environ' %}
{%- set sls_service_unit = slsroot ~ '.service.unit' %}
{%- set sls_service_record = slsroot ~ '.service.record' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_package_install }}
  - {{ sls_user_account }}
  - {{ sls_config_file }}
  - {{ sls_config_environ }}
  - {{ sls_service_unit }}
  - {{ sls_service_record }}

# A crash loop leaves the unit failed and refusing starts; restarts by Salt count against
# StartLimitBurst= too. Clear both so the start or restart below is not refused.
{{ prefix }}-service-running-unit-reset:
  litellm.unit_reset:
    - name: {{ litellm.service_name }}
    - require:
      - sls: {{ sls_service_unit }}

# One restart per apply whatever changed; none when nothing did.
{{ prefix }}-service-running-service-running:
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
      - litellm: {{ prefix }}-service-running-unit-reset

# Every apply, not only after a (re)start: a bounded wait until the proxy answers and serves every
# model, so an apply over a proxy that runs but does not serve fails with the reason.
{{ prefix }}-service-running-proxy-healthy:
  litellm.healthy:
    - name: {{ litellm.service_name }}
    - timeout: {{ litellm.startup_timeout }}
    - require:
      - sls: {{ sls_service_record }}
      - service: {{ prefix }}-service-running-service-running
