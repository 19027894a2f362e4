# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_service_clean = tplroot ~ '.service.clean' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_service_clean }}

# The OS Python packages stay: other software may use them.
{{ tplroot }}-package-clean-install-dir-absent:
  file.absent:
    - name: {{ litellm.install_dir }}
    - require:
      - sls: {{ sls_service_clean }}
