# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_ownership = slsroot ~ '.ownership' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_ownership }}

{{ prefix }}-service-unit-file-managed:
  file.managed:
    - name: {{ litellm.paths.unit_file }}
    - source: salt://{{ tplroot }}/files/default/litellm.service.jinja
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - sls: {{ sls_ownership }}

{{ prefix }}-service-unit-systemd-reloaded:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: {{ prefix }}-service-unit-file-managed
