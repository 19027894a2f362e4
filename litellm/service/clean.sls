# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

{{ prefix }}-service-clean-service-dead:
  service.dead:
    - name: {{ litellm.service_name }}
    - enable: false

{{ prefix }}-service-clean-unit-file-absent:
  file.absent:
    - name: {{ litellm.paths.unit_file }}
    - require:
      - service: {{ prefix }}-service-clean-service-dead

{{ prefix }}-service-clean-systemd-reloaded:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: {{ prefix }}-service-clean-unit-file-absent

{{ prefix }}-service-clean-record-file-absent:
  file.absent:
    - name: {{ litellm.record_file }}
    - require:
      - service: {{ prefix }}-service-clean-service-dead
{%- if litellm.record_dir_removable %}

{{ prefix }}-service-clean-record-dir-absent:
  file.absent:
    - name: {{ litellm.record_dir }}
    - require:
      - file: {{ prefix }}-service-clean-record-file-absent
{%- endif %}

# StateDirectory= of the unit (the service user's home).
{{ prefix }}-service-clean-state-dir-absent:
  file.absent:
    - name: {{ litellm.state_dir }}
    - require:
      - service: {{ prefix }}-service-clean-service-dead
