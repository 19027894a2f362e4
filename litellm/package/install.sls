# -*- coding: utf-8 -*-
# vim: ft=sls
---
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as litellm with context %}
{%- set venv = litellm.paths.venv %}
{%- set pip = litellm.pip %}

{{ tplroot }}-package-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ litellm.pkgs | json }}

{#- Decided at render time from the files on disk, not with `creates`/`unless`: the first state
    with such a check makes Salt load every state and execution module (about 0.5 s per apply). #}
{%- set needed = salt['litellm.install_needed'](tplroot=tplroot) %}
{%- if needed.venv %}

{{ tplroot }}-package-install-venv-created:
  cmd.run:
    # The OS Python: a venv on an interpreter under /root cannot start with ProtectHome=yes.
    - name: {{ litellm.python }} -m venv {{ venv }}
    - require:
      - pkg: {{ tplroot }}-package-install-pkg-installed
{%- endif %}
{%- if needed.venv or needed.pins %}

{{ tplroot }}-package-install-pip-installed:
  pip.installed:
    - pkgs: {{ (['litellm[proxy]==' ~ litellm.version] + litellm.extra_pip_packages) | json }}
    - bin_env: {{ venv }}
{%- if pip.index_url %}
    - index_url: {{ pip.index_url }}
{%- endif %}
{%- if pip.extra_index_urls %}
    - extra_index_url: {{ pip.extra_index_urls | join(' ') }}
{%- endif %}
{%- if pip.find_links %}
    - find_links: {{ pip.find_links | join(' ') }}
{%- endif %}
{%- if pip.no_index %}
    - no_index: true
{%- endif %}
    - require:
      - pkg: {{ tplroot }}-package-install-pkg-installed
{%- if needed.venv %}
      - cmd: {{ tplroot }}-package-install-venv-created
{%- endif %}
{%- endif %}

{%- if needed.site_packages %}

{{ tplroot }}-package-install-fork-safety-pth-managed:
  file.managed:
    - name: {{ needed.site_packages }}/litellm_formula_fork_safety.pth
    - source: salt://{{ tplroot }}/files/default/fork_safety.pth
    - user: root
    - group: root
    - mode: '0644'
{%- if needed.venv or needed.pins %}
    - require:
      - pip: {{ tplroot }}-package-install-pip-installed
{%- endif %}

{{ tplroot }}-package-install-workarounds-module-managed:
  file.managed:
    # LiteLLM callback (litellm_settings.callbacks): per-request CPU LiteLLM 1.108.7 spends for
    # nothing, taken back (README "Throughput defaults").
    - name: {{ needed.site_packages }}/litellm_formula_workarounds.py
    - source: salt://{{ tplroot }}/files/default/workarounds.py
    - user: root
    - group: root
    - mode: '0644'
{%- if needed.venv or needed.pins %}
    - require:
      - pip: {{ tplroot }}-package-install-pip-installed
{%- endif %}

{{ tplroot }}-package-install-liveness-module-managed:
  file.managed:
    # LiteLLM callback (litellm_settings.callbacks): busy backends stay in rotation, hung ones are
    # left within one probe interval plus timeout (README "Failover: busy is not down").
    - name: {{ needed.site_packages }}/litellm_formula_liveness.py
    - source: salt://{{ tplroot }}/files/default/liveness.py
    - user: root
    - group: root
    - mode: '0644'
{%- if needed.venv or needed.pins %}
    - require:
      - pip: {{ tplroot }}-package-install-pip-installed
{%- endif %}
{%- endif %}

{{ tplroot }}-package-install-check-config-managed:
  file.managed:
    - name: {{ litellm.paths.check_config }}
    - source: salt://{{ tplroot }}/files/default/check_config.py
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true
{%- if needed.venv or needed.pins %}
    - require:
      - pip: {{ tplroot }}-package-install-pip-installed
{%- endif %}
