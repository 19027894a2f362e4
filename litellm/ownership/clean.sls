# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

# After every removal of the clean (order: last): the ledger keeps only what is still there (an
# account clean keeps), and goes when nothing is left.
{{ prefix }}-ownership-clean-ledger-pruned:
  litellm.ownership_recorded:
    - name: {{ litellm.service_name }}
    - prune: true
    - order: last
{%- if litellm.clean_plan.left %}

# What pillar names but the formula did not create: never removed, and the clean says so.
{{ prefix }}-ownership-clean-unowned-left-in-place:
  test.fail_without_changes:
    - name: left in place
    - comment: {{ litellm.clean_plan.left | join('; ') | json }}
    - order: last
{%- endif %}
