# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

{{ tplroot }}-service-unit-file-managed:
  file.managed:
    - name: {{ litellm.paths.unit_file }}
    - source: salt://{{ tplroot }}/files/default/litellm.service.jinja
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: root
    - mode: '0644'

{{ tplroot }}-service-unit-systemd-reloaded:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: {{ tplroot }}-service-unit-file-managed
