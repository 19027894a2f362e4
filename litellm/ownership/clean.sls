# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}
{%- set plan = salt['litellm.owned'](parameters=parameters).clean %}

# After every removal of the clean (order: last): the ledger keeps only what is still there (an
# account clean keeps), and goes when nothing is left.
{{ prefix }}-ownership-clean-ledger-pruned:
  litellm.ownership_recorded:
    - name: {{ litellm.service_name }}
    - mode: clean
    - entries: {{ plan.entries | json }}
    - order: last
{%- if plan.left %}

# What pillar names but the formula did not create, or what it did create but can no longer remove
# safely (now a mount point, a link): never removed, and the clean says so.
{{ prefix }}-ownership-clean-unowned-left-in-place:
  test.fail_without_changes:
    - name: left in place
    - comment: {{ plan.left | join('; ') | json }}
    - order: last
{%- endif %}
