# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_ownership = slsroot ~ '.ownership' %}
{%- set sls_package_source = slsroot ~ '.package.source' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}
{%- set venv = litellm.paths.venv %}

include:
  - {{ sls_ownership }}
  - {{ sls_package_source }}

{{ prefix }}-package-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ litellm.pkgs | json }}

{#- Decided at render time from the files on disk, not with `creates`/`unless`: the first state
    with such a check makes Salt load every state and execution module (about 0.5 s per apply). #}
{%- set needed = salt['litellm.install_needed'](parameters=parameters) %}
{%- if needed.venv %}

# The OS Python: a venv on an interpreter under /root cannot start with ProtectHome=yes. No shell:
# the state runs `python -m venv` as an argument list.
{{ prefix }}-package-install-venv-created:
  litellm.venv_created:
    - name: {{ venv }}
    - python: {{ litellm.python }}
    - require:
      - sls: {{ sls_ownership }}
      - pkg: {{ prefix }}-package-install-pkg-installed
{%- endif %}

{%- if needed.pip %}

{{ prefix }}-package-install-pip-installed:
  pip.installed:
    - pkgs: {{ litellm.pip_requirements | json }}
    - bin_env: {{ venv }}
    - env_vars:
        PIP_CONFIG_FILE: {{ litellm.paths.pip_config }}
    - require:
      - pkg: {{ prefix }}-package-install-pkg-installed
      - sls: {{ sls_package_source }}
{%- if needed.venv %}
      - litellm: {{ prefix }}-package-install-venv-created
{%- endif %}
{%- endif %}

{%- if needed.site_packages %}
{#- Files the formula adds to the virtualenv's site-packages (README "Files on the host"):
    the fork-safety .pth (gunicorn worker boot race) and the two LiteLLM callbacks config.yaml loads. #}
{%- for what, filename, source in [
      ('fork-safety-pth', 'litellm_formula_fork_safety.pth', 'fork_safety.pth'),
      ('workarounds-module', 'litellm_formula_workarounds.py', 'workarounds.py'),
      ('liveness-module', 'litellm_formula_liveness.py', 'liveness.py'),
    ] %}

{{ prefix }}-package-install-{{ what }}-managed:
  file.managed:
    - name: {{ needed.site_packages }}/{{ filename }}
    - source: salt://{{ tplroot }}/files/default/{{ source }}
    - user: root
    - group: root
    - mode: '0644'
{%- if needed.pip %}
    - require:
      - pip: {{ prefix }}-package-install-pip-installed
{%- endif %}
{%- endfor %}
{%- endif %}

{{ prefix }}-package-install-check-config-managed:
  file.managed:
    - name: {{ litellm.paths.check_config }}
    - source: salt://{{ tplroot }}/files/default/check_config.py
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true
    - require:
      - sls: {{ sls_ownership }}
{%- if needed.pip %}
      - pip: {{ prefix }}-package-install-pip-installed
{%- endif %}
