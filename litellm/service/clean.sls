# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}
{#- Only what the ledger lists (litellm.owned): a unit the formula did not create is never stopped. #}
{%- set plan = salt['litellm.owned'](parameters=parameters).clean %}
{%- if plan.units %}

{#- The socket first: with it listening, a connection would start the service again. #}
{%- if litellm.paths.socket_unit_file in plan.units %}

{{ prefix }}-service-clean-socket-dead:
  service.dead:
    - name: {{ litellm.service_name }}.socket
    - enable: false
    - require_in:
      - service: {{ prefix }}-service-clean-service-dead
{%- endif %}

{{ prefix }}-service-clean-service-dead:
  service.dead:
    - name: {{ litellm.service_name }}
    - enable: false
{%- for unit in plan.units %}

{{ prefix }}-service-clean-unit-file-absent-{{ loop.index }}:
  file.absent:
    - name: {{ unit }}
    - require:
      - service: {{ prefix }}-service-clean-service-dead
    - onchanges_in:
      - module: {{ prefix }}-service-clean-systemd-reloaded
{%- endfor %}

{{ prefix }}-service-clean-systemd-reloaded:
  module.run:
    - service.systemctl_reload: []
{%- endif %}

{{ prefix }}-service-clean-record-file-absent:
  file.absent:
    - name: {{ litellm.record_file }}
{%- if plan.units %}
    - require:
      - service: {{ prefix }}-service-clean-service-dead
{%- endif %}
{%- for dir in plan.dirs.state_dir %}

# StateDirectory= of the unit (the service user's home).
{{ prefix }}-service-clean-state-dir-absent-{{ loop.index }}:
  file.absent:
    - name: {{ dir }}
    - require:
      - file: {{ prefix }}-service-clean-record-file-absent
{%- endfor %}
