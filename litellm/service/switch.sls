# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_package_install = slsroot ~ '.package.install' %}
{%- set sls_config_file = slsroot ~ '.config.file' %}
{%- set sls_config_environ = slsroot ~ '.config.environ' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}

include:
  - {{ sls_package_install }}
  - {{ sls_config_file }}
  - {{ sls_config_environ }}

# The unit runs <install_dir>/current: pointed at the new virtualenv in one rename, only after that
# virtualenv's LiteLLM accepted the deployed config.yaml and, when a proxy is live, served every model
# in a trial start beside it (a loopback port, one worker). The old one stays as <install_dir>/previous.
{{ prefix }}-service-switch-venv-switched:
  litellm.venv_switched:
    - name: {{ litellm.paths.venv }}
    - require:
      - sls: {{ sls_package_install }}
      - sls: {{ sls_config_file }}
      - sls: {{ sls_config_environ }}
