# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_ownership = slsroot ~ '.ownership' %}
{%- set sls_service_switch = slsroot ~ '.service.switch' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}

include:
  - {{ sls_ownership }}
  - {{ sls_service_switch }}

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
      # ExecStart= names <install_dir>/current: written once that link points at a checked virtualenv.
      - sls: {{ sls_service_switch }}

{%- if litellm.socket_activated %}

{{ prefix }}-service-unit-socket-file-managed:
  file.managed:
    - name: {{ litellm.paths.socket_unit_file }}
    - source: salt://{{ tplroot }}/files/default/litellm.socket.jinja
    - template: jinja
    - context:
        tplroot: {{ tplroot }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - sls: {{ sls_ownership }}
{%- elif litellm.paths.socket_unit_file in salt['litellm.owned'](parameters=parameters).clean.units %}

# server is no longer gunicorn: the socket unit an earlier apply created goes (the ledger lists it).
{{ prefix }}-service-unit-socket-dead:
  service.dead:
    - name: {{ litellm.service_name }}.socket
    - enable: false

{{ prefix }}-service-unit-socket-file-absent:
  file.absent:
    - name: {{ litellm.paths.socket_unit_file }}
    - require:
      - service: {{ prefix }}-service-unit-socket-dead
{%- endif %}

{{ prefix }}-service-unit-systemd-reloaded:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: {{ prefix }}-service-unit-file-managed
{%- if litellm.socket_activated %}
      - file: {{ prefix }}-service-unit-socket-file-managed
{%- elif litellm.paths.socket_unit_file in salt['litellm.owned'](parameters=parameters).clean.units %}
      - file: {{ prefix }}-service-unit-socket-file-absent
{%- endif %}
