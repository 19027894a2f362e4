# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_service_clean = tplroot ~ '.service.clean' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_service_clean }}

{{ tplroot }}-config-clean-config-dir-absent:
  file.absent:
    - name: {{ litellm.config_dir }}
    - require:
      - sls: {{ sls_service_clean }}
