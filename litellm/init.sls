# -*- coding: utf-8 -*-
# vim: ft=sls
---
include:
  - .package
  - .user
  - .config
  - .service
