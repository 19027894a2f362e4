# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_service_clean = slsroot ~ '.service.clean' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_service_clean }}

{%- if litellm.clean_remove_user %}

{{ prefix }}-user-clean-user-absent:
  user.absent:
    - name: {{ litellm.service_user }}
    - require:
      - sls: {{ sls_service_clean }}

{{ prefix }}-user-clean-group-absent:
  group.absent:
    - name: {{ litellm.service_group }}
    - require:
      - user: {{ prefix }}-user-clean-user-absent
{%- endif %}
