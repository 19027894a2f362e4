#!/usr/bin/env bash
# The test command (`make test`): install what is missing, lint, then run the test layers:
#   1. unit and functional layers under each salt release in requirements-salt-matrix.txt (on this
#      host: they need no systemd);
#   2. the whole suite (unit, functional, integration) under requirements-test.txt's salt, inside a
#      throwaway systemd container, torn down afterwards;
#   3. one full deploy (first apply, no-op re-apply, the secrets checks, clean) under the matrix's
#      first (oldest) release, in a second container.
# Extra arguments go to step 2's pytest only, and skip steps 1 and 3 (e.g. `make test PYTEST_ARGS="-k deploy -x"`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$here/scripts/deps.sh" | tail -1)
"$here/scripts/lint.sh" "$venv"
versions=$(grep -v '^#' "$here/requirements-salt-matrix.txt" | xargs)
cd "$here"
if [ $# -eq 0 ]; then
  for version in $versions; do
    other=$("$here/scripts/deps.sh" --salt "$version" | tail -1)
    echo "test: unit and functional layers under salt $version" >&2
    "$other/bin/python" -m pytest -p no:cacheprovider -q test/unit test/functional
  done
fi
echo "test: everything under salt $("$venv/bin/python" -c 'import salt.version; print(salt.version.__version__)')" >&2
"$here/scripts/container.sh" run -- \
  env LITELLM_FORMULA_IN_CONTAINER=1 "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
if [ $# -eq 0 ]; then
  oldest=${versions%% *}
  other=$("$here/scripts/deps.sh" --salt "$oldest" | tail -1)
  echo "test: one full deploy under salt $oldest" >&2
  exec "$here/scripts/container.sh" run -- \
    env LITELLM_FORMULA_IN_CONTAINER=1 "$other/bin/python" -m pytest -p no:cacheprovider -q \
    test/integration/test_deploy.py -k "first_apply or second_apply or stays_secret or clean_leaves"
fi
