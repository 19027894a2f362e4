# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.rsplit("/", 1)[0] %}
{%- set slsroot = tplroot | replace("/", ".") %}
{%- set prefix = tplroot | replace("/", "-") %}
{%- set sls_ownership = slsroot ~ '.ownership' %}
{%- set sls_package_source = slsroot ~ '.package.source' %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm, parameters with context %}

include:
  - {{ sls_ownership }}
  - {{ sls_package_source }}

{{ prefix }}-package-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ litellm.pkgs | json }}

{#- Decided at render time from the files on disk (litellm.install_plan), not with `creates`/`unless`:
    the first state with such a check makes Salt load every state and execution module (about 0.5 s
    per apply). One virtualenv per pinned set: venvs/<version>-<lock digest>. #}
{#- litellm.install is None when the lock is missing or inconsistent: install_plan then fails this
    render naming the pillar key (litellm.clean still renders without a lock). #}
{%- set needed = litellm.install or salt['litellm.install_plan'](parameters=parameters) %}

# The hash lock this virtualenv is built from, kept beside it (README "Hash-locked installs").
{{ prefix }}-package-install-lock-managed:
  file.managed:
    - name: {{ needed.lock.path }}
    - source: {{ needed.lock.source }}
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
    - require:
      - sls: {{ sls_ownership }}

# The OS Python (a venv on an interpreter under /root cannot start with ProtectHome=yes), then
# `pip install --require-hashes --no-deps -r <lock>` with the sources of pip.conf. The virtualenv the
# proxy runs is never touched: the switch (service.switch) moves the unit to this one.
{{ prefix }}-package-install-venv-built:
  litellm.venv_built:
    - name: {{ needed.venv }}
    - require:
      - pkg: {{ prefix }}-package-install-pkg-installed
      - file: {{ prefix }}-package-install-lock-managed
      - sls: {{ sls_package_source }}
{%- if needed.site_packages %}
{#- Files the formula adds to the virtualenv's site-packages (README "Files on the host"):
    the fork-safety .pth (gunicorn worker boot race) and the LiteLLM callbacks config.yaml loads. #}
{%- for what, filename, source in [
      ('fork-safety-pth', 'litellm_formula_fork_safety.pth', 'fork_safety.pth'),
      ('workarounds-module', 'litellm_formula_workarounds.py', 'workarounds.py'),
      ('liveness-module', 'litellm_formula_liveness.py', 'liveness.py'),
      ('probes-module', 'litellm_formula_probes.py', 'probes.py'),
    ] %}

{{ prefix }}-package-install-{{ what }}-managed:
  file.managed:
    - name: {{ needed.site_packages }}/{{ filename }}
    - source: salt://{{ tplroot }}/files/default/{{ source }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - litellm: {{ prefix }}-package-install-venv-built
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
