# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}
{#- Refuses, at render time (nothing runs), a pillar that would take over an account, unit or
    directory the formula did not create and pillar does not adopt (litellm:adopt). #}
{%- do salt['litellm.validate_pillar'](parameters=parameters) %}

# Every state that creates something requires this one: the ledger names it before it exists, so
# litellm.clean removes what the formula made and nothing else.
{{ prefix }}-ownership-ledger-claimed:
  litellm.ownership_recorded:
    - name: {{ litellm.service_name }}
    - mode: claim
