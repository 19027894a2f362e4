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

{{ prefix }}-user-account-group-present:
  group.present:
    - name: {{ litellm.service_group }}
    - system: true
    - require:
      - sls: {{ sls_ownership }}

{{ prefix }}-user-account-user-present:
  user.present:
    - name: {{ litellm.service_user }}
    - gid: {{ litellm.service_group }}
    - system: true
    - home: {{ litellm.state_dir }}
    # systemd's StateDirectory= creates the home with the right owner at start.
    - createhome: false
    - shell: /usr/sbin/nologin
    - fullname: {{ litellm.service_description }}
    - require:
      - sls: {{ sls_ownership }}
      - group: {{ prefix }}-user-account-group-present
