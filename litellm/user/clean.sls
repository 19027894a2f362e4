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

{#- With clean_remove_user, the account and group the ledger lists (never one the formula did not create). #}
{%- set plan = salt['litellm.owned'](parameters=parameters).clean %}
{%- for user in plan.users %}

{{ prefix }}-user-clean-user-absent-{{ loop.index }}:
  user.absent:
    - name: {{ user }}
    - require:
      - sls: {{ sls_service_clean }}
{%- endfor %}
{%- for group in plan.groups %}

{{ prefix }}-user-clean-group-absent-{{ loop.index }}:
  group.absent:
    - name: {{ group }}
    - require:
      - sls: {{ sls_service_clean }}
{%- for user in plan.users %}
      - user: {{ prefix }}-user-clean-user-absent-{{ loop.index }}
{%- endfor %}
{%- endfor %}
