# -*- coding: utf-8 -*-
# vim: ft=sls
---
include:
  - .package
  - .user
  - .config
  - .service
  # Last (order: last). Included only here: on Salt 3008 a `require: sls: X` also waits for what X
  # includes, and that would run it first.
  - .ownership.confirm
