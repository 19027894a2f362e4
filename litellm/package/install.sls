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

{{ tplroot }}-package-install-venv-created:
  cmd.run:
    # The OS Python: a venv on an interpreter under /root cannot start with ProtectHome=yes.
    - name: {{ litellm.python }} -m venv {{ venv }}
    - creates: {{ venv }}/bin/python
    - require:
      - pkg: {{ tplroot }}-package-install-pkg-installed

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
    # `pip list` costs ~0.5 s per apply; reading the installed versions costs ~0.05 s.
    - unless: >-
        {{ venv }}/bin/python -c 'import importlib.metadata as m, sys;
        sys.exit(any(m.version(n) != v for n, v in {{ litellm.pip_pins | json }}))'
    - require:
      - cmd: {{ tplroot }}-package-install-venv-created

{{ tplroot }}-package-install-check-config-managed:
  file.managed:
    - name: {{ litellm.paths.check_config }}
    - source: salt://{{ tplroot }}/files/default/check_config.py
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true
    - require:
      - pip: {{ tplroot }}-package-install-pip-installed
