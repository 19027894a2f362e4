# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_ownership = slsroot ~ '.ownership' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_ownership }}

# Every package source (index credentials included, sdb:// resolved) in a root-only pip.conf that pip
# reads through PIP_CONFIG_FILE: none is on pip's command line (ps), in the rendered SLS or in a state
# return.
{{ prefix }}-package-source-pip-config-managed:
  litellm.secret_file_managed:
    - name: {{ litellm.paths.pip_config }}
    - content: pip_config
    - require:
      - sls: {{ sls_ownership }}
