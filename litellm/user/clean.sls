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

{#- With clean_remove_user, the account and group the ledger lists (never one the formula did not create). #}
{%- set plan = litellm.clean_plan %}
{%- if plan.user %}

{{ prefix }}-user-clean-user-absent:
  user.absent:
    - name: {{ plan.user }}
    - require:
      - sls: {{ sls_service_clean }}
{%- endif %}
{%- if plan.group %}

{{ prefix }}-user-clean-group-absent:
  group.absent:
    - name: {{ plan.group }}
    - require:
      - sls: {{ sls_service_clean }}
{%- if plan.user %}
      - user: {{ prefix }}-user-clean-user-absent
{%- endif %}
{%- endif %}
