#!/usr/bin/env bash
# ruff (Python), yamllint (YAML), salt-lint (SLS). Takes the test venv's path.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$("$here/scripts/deps.sh" | tail -1)}
cd "$here"
"$venv/bin/ruff" check --quiet .
"$venv/bin/yamllint" -s pillar.example litellm/parameters .yamllint
find litellm -name '*.sls' -print0 | xargs -0 "$venv/bin/salt-lint" -x 204
echo "lint: ok"
