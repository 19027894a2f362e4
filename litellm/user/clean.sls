# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_service_clean = tplroot ~ '.service.clean' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_service_clean }}

{%- if litellm.clean_remove_user %}

{{ tplroot }}-user-clean-user-absent:
  user.absent:
    - name: {{ litellm.service_user }}
    - require:
      - sls: {{ sls_service_clean }}

{{ tplroot }}-user-clean-group-absent:
  group.absent:
    - name: {{ litellm.service_group }}
    - require:
      - user: {{ tplroot }}-user-clean-user-absent
{%- endif %}
