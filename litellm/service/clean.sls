# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

{{ tplroot }}-service-clean-service-dead:
  service.dead:
    - name: {{ litellm.service_name }}
    - enable: false

{{ tplroot }}-service-clean-unit-file-absent:
  file.absent:
    - name: {{ litellm.paths.unit_file }}
    - require:
      - service: {{ tplroot }}-service-clean-service-dead

{{ tplroot }}-service-clean-systemd-reloaded:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: {{ tplroot }}-service-clean-unit-file-absent

# StateDirectory= of the unit (the service user's home).
{{ tplroot }}-service-clean-state-dir-absent:
  file.absent:
    - name: {{ litellm.state_dir }}
    - require:
      - service: {{ tplroot }}-service-clean-service-dead
