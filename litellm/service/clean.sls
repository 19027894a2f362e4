# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}
{#- Only what the ledger lists (litellm.owned): a unit the formula did not create is never stopped. #}
{%- set plan = salt['litellm.owned'](parameters=parameters).clean %}
{%- if plan.unit %}

{{ prefix }}-service-clean-service-dead:
  service.dead:
    - name: {{ litellm.service_name }}
    - enable: false

{{ prefix }}-service-clean-unit-file-absent:
  file.absent:
    - name: {{ plan.unit }}
    - require:
      - service: {{ prefix }}-service-clean-service-dead

{{ prefix }}-service-clean-systemd-reloaded:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: {{ prefix }}-service-clean-unit-file-absent
{%- endif %}

{{ prefix }}-service-clean-record-file-absent:
  file.absent:
    - name: {{ litellm.record_file }}
{%- if plan.unit %}
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
