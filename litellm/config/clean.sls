# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_service_clean = slsroot ~ '.service.clean' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}

include:
  - {{ sls_service_clean }}

# Only directories the ledger lists.
{%- for dir in salt['litellm.owned'](parameters=parameters).clean.dirs.config_dir %}

{{ prefix }}-config-clean-config-dir-absent-{{ loop.index }}:
  file.absent:
    - name: {{ dir }}
    - require:
      - sls: {{ sls_service_clean }}
{%- endfor %}
