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
{%- set sls_config_tls = slsroot ~ '.config.tls' %}
{%- set sls_service_unit = slsroot ~ '.service.unit' %}
{%- set sls_service_record = slsroot ~ '.service.record' %}
{%- set sls_service_switch = slsroot ~ '.service.switch' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}

include:
  - {{ sls_package_install }}
  - {{ sls_user_account }}
  - {{ sls_config_file }}
  - {{ sls_config_environ }}
  - {{ sls_config_tls }}
  - {{ sls_service_unit }}
  - {{ sls_service_record }}
  - {{ sls_service_switch }}

# A crash loop leaves the unit failed and refusing starts; restarts by Salt count against
# StartLimitBurst= too. Clear both so the start or restart below is not refused.
{{ prefix }}-service-running-unit-reset:
  litellm.unit_reset:
    - name: {{ litellm.service_name }}
    - require:
      - sls: {{ sls_service_unit }}

{%- if litellm.socket_activated %}
{%- if litellm.socket_rebind %}

# The socket runs with other listening settings (address, port, backlog, who may connect), or the
# service holds the port itself (0.3.0): stop the service, bind the socket again; the service starts
# once below. Only once everything the new proxy needs is in place: a failed build or switch stops
# nothing.
{{ prefix }}-service-running-service-stopped-to-rebind:
  service.dead:
    - name: {{ litellm.service_name }}.service
    - require:
      - sls: {{ sls_package_install }}
      - sls: {{ sls_service_switch }}
      - sls: {{ sls_config_file }}
      - sls: {{ sls_config_environ }}
      - sls: {{ sls_config_tls }}
      - sls: {{ sls_service_unit }}
      - sls: {{ sls_user_account }}

{{ prefix }}-service-running-socket-bound:
  litellm.socket_bound:
    - name: {{ litellm.service_name }}.socket
    - require:
      - service: {{ prefix }}-service-running-service-stopped-to-rebind
    - require_in:
      - service: {{ prefix }}-service-running-socket-running
{%- endif %}

# The listening socket first: the service inherits it.
{{ prefix }}-service-running-socket-running:
  service.running:
    - name: {{ litellm.service_name }}.socket
    - enable: true
    - require:
      - sls: {{ sls_service_unit }}
      - litellm: {{ prefix }}-service-running-unit-reset
    - require_in:
      - service: {{ prefix }}-service-running-service-running
{%- endif %}

# One restart per apply whatever changed; none when nothing did. With the socket unit, clients wait
# through it in the socket's queue while the old workers drain (shutdown_timeout).
{{ prefix }}-service-running-service-running:
  service.running:
    - name: {{ litellm.service_name }}
    - enable: true
    - watch:
      - sls: {{ sls_package_install }}
      - sls: {{ sls_service_switch }}
      - sls: {{ sls_config_file }}
      - sls: {{ sls_config_environ }}
      - sls: {{ sls_config_tls }}
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

# A failed health gate right after a switch: back to the virtualenv that ran before this apply,
# restart, wait, and fail the apply saying "rolled back to ...". Nothing to do when it did not switch.
{{ prefix }}-service-running-venv-rolled-back:
  litellm.venv_rolled_back:
    - name: {{ litellm.paths.venv }}
    - to: {{ (litellm.install or salt['litellm.install_plan'](parameters=parameters)).current | json }}
    - timeout: {{ litellm.startup_timeout }}
    - onfail:
      - litellm: {{ prefix }}-service-running-proxy-healthy

# Once the proxy serves: only the current and the previous virtualenv stay.
{{ prefix }}-service-running-venvs-pruned:
  litellm.venvs_pruned:
    - name: {{ litellm.install_dir }}
    - require:
      - litellm: {{ prefix }}-service-running-proxy-healthy
