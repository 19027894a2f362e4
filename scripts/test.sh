#!/usr/bin/env bash
# The test command (`make test`): install what is missing, lint, then run the whole pytest suite
# (unit, functional, integration) inside a throwaway systemd container, torn down afterwards.
# Extra arguments go to pytest (e.g. `make test PYTEST_ARGS="-k deploy -x"`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$here/scripts/deps.sh" | tail -1)
"$here/scripts/lint.sh" "$venv"
exec "$here/scripts/container.sh" run -- \
  env LITELLM_FORMULA_IN_CONTAINER=1 "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
