# -*- coding: utf-8 -*-
# vim: ft=sls
---
# Reverse order of init.sls: stop the service before its files go.
include:
  - .service.clean
  - .config.clean
  - .package.clean
  - .user.clean
  - .ownership.clean
