# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

# Last in every `state.apply litellm`, failed ones too (order: last; included only by litellm/init.sls,
# nothing requires it): what the apply did not create leaves the ledger, so nothing another tool makes
# there later counts as the formula's.
{{ prefix }}-ownership-confirm-ledger-confirmed:
  litellm.ownership_recorded:
    - name: {{ litellm.service_name }}
    - mode: confirm
    - order: last
