#!/usr/bin/env bash
# The test command (`make test`): install what is missing, lint, then run the test layers:
#   1. the unit and functional layers under each salt release in requirements-salt-matrix.txt, on this
#      host (they need no systemd), side by side, while
#   2. one full deploy (first apply, no-op re-apply, the secrets checks, clean) runs under the matrix's
#      first (oldest) release in a throwaway systemd container;
#   3. then the integration layer under requirements-test.txt's salt, in a second container (its unit
#      and functional layers ran in step 1, on this host: the container adds nothing to them and
#      they would lengthen the serial part). Containers are torn down afterwards, also on failure.
# Extra arguments go to step 3's pytest only, run the whole suite there, and skip steps 1 and 2
# (e.g. `make test PYTEST_ARGS="-k deploy -x"`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$here/scripts/deps.sh" | tail -1)
check_venv=${LITELLM_FORMULA_CACHE:-/var/cache/litellm-formula}/venv-litellm-$(sha256sum "$here/requirements-litellm.txt" | cut -c1-12)
"$here/scripts/lint.sh" "$venv"
versions=$(grep -v '^#' "$here/requirements-salt-matrix.txt" | xargs)
cd "$here"
failed=0
if [ $# -eq 0 ]; then
  logs=$(mktemp -d /var/tmp/litellm-formula-test.XXXXXX)
  trap 'rm -rf "$logs"' EXIT
  pids=()
  # The matrix's releases, then requirements-test.txt's own (the "current" venv).
  newest=current
  for version in $versions current; do
    if [ "$version" = current ]; then other=$venv; else other=$("$here/scripts/deps.sh" --salt "$version" | tail -1); fi
    mkdir -p "$logs/$version/tmp"
    # The config check's tests need Salt not at all and LiteLLM's venv; they run once, under
    # requirements-test.txt's salt (else they skip, saying so).
    check_python=
    [ "$version" = "$newest" ] && check_python=$check_venv/bin/python
    # Each run its own TMPDIR: salt-factories keeps its daemons' files under it.
    TMPDIR="$logs/$version/tmp" LITELLM_FORMULA_CHECK_PYTHON="$check_python" "$other/bin/python" -m pytest \
      -p no:cacheprovider -q test/unit test/functional > "$logs/$version/pytest.log" 2>&1 &
    pids+=("$!:$version")
  done
  oldest=${versions%% *}
  other=$("$here/scripts/deps.sh" --salt "$oldest" | tail -1)
  echo "test: one full deploy under salt $oldest (container); unit and functional layers under salt $versions and requirements-test.txt's" >&2
  "$here/scripts/container.sh" run -- \
    env LITELLM_FORMULA_IN_CONTAINER=1 "$other/bin/python" -m pytest -p no:cacheprovider -q \
    test/integration/test_deploy.py -k "first_apply or second_apply or stays_secret or clean_removes" \
    || failed=1
  for entry in "${pids[@]}"; do
    version=${entry#*:}
    if wait "${entry%%:*}"; then
      echo "test: unit and functional layers under salt $version: $(tail -1 "$logs/$version/pytest.log")" >&2
    else
      cat "$logs/$version/pytest.log"
      echo "test: unit and functional layers under salt $version FAILED" >&2
      failed=1
    fi
  done
fi
current=$("$venv/bin/python" -c 'import salt.version; print(salt.version.__version__)')
if [ $# -eq 0 ]; then
  echo "test: the integration layer under salt $current" >&2
  set -- test/integration
else
  echo "test: everything under salt $current" >&2
fi
"$here/scripts/container.sh" run -- \
  env LITELLM_FORMULA_IN_CONTAINER=1 "$venv/bin/python" -m pytest -p no:cacheprovider --durations=15 "$@" \
  || failed=1
exit "$failed"
