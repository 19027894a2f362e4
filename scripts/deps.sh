#!/usr/bin/env bash
# Installs everything the tests, the demo and the benchmarks need on a fresh Debian 12 host (as root):
# Debian packages, a pinned test virtualenv, and a local wheel cache of LiteLLM that the formula then
# installs from through its find_links/no-index path (the air-gapped install path).
# Idempotent: a second run downloads nothing. Prints the test venv's path on its last line (the LiteLLM
# venv of the config-check tests is $LITELLM_FORMULA_CACHE/venv-litellm-<hash of requirements-litellm.txt>);
# `deps.sh --salt 3006.29` prints the path of the same venv built with that salt release instead.
set -euo pipefail
salt_version=
if [ "${1:-}" = "--salt" ]; then salt_version=$2; fi
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LITELLM_FORMULA_CACHE:-/var/cache/litellm-formula}
mkdir -p "$cache"

need_pkgs=()
# prometheus: the real server that scrapes the proxy in the metrics test; openssl: the tests' certificates;
# jq: the README's journal query for failed requests, run as written by the JSON-logs test.
for pkg in systemd-container python3-venv curl iproute2 wrk prometheus openssl jq; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# The test venv is keyed by its requirements so clones share it and a change rebuilds it.
req_hash=$(sha256sum "$here/requirements-test.txt" | cut -c1-12)
venv="$cache/venv-test-$req_hash${salt_version:+-salt$salt_version}"
if [ ! -e "$venv/.complete" ]; then
  echo "deps: building test venv $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  reqs="$venv/requirements.txt"
  if [ -n "$salt_version" ]; then
    sed "s/^salt==.*/salt==$salt_version/" "$here/requirements-test.txt" > "$reqs"
  else
    cp "$here/requirements-test.txt" "$reqs"
  fi
  "$venv/bin/pip" install -q -r "$reqs" >&2
  "$venv/bin/python" -c "import salt.version, sys; v = salt.version.__version__; \
sys.exit(0 if '$salt_version' in ('', v) else 'deps: pip installed salt ' + v + ', not $salt_version')"
  touch "$venv/.complete"
fi

# LiteLLM wheels for the service venv, keyed by the pinned requirements.
lit_hash=$(sha256sum "$here/requirements-litellm.txt" | cut -c1-12)
wheels="$cache/wheels"
if [ ! -e "$wheels/.complete-$lit_hash" ]; then
  echo "deps: caching LiteLLM wheels in $wheels" >&2
  mkdir -p "$wheels"
  /usr/bin/python3 -m pip download -q --only-binary=:all: -d "$wheels" -r "$here/requirements-litellm.txt" >&2
  # The release before the default, for the tests' downgrade/upgrade through pillar `version`.
  /usr/bin/python3 -m pip download -q --only-binary=:all: --no-deps -d "$wheels" "litellm==$(
    sed -n 's/^# previous: //p' "$here/requirements-litellm.txt")" >&2
  touch "$wheels/.complete-$lit_hash"
fi
# Every wheel of the hash-locked requirements (tools/lock.py), the files the formula installs from;
# keyed by the lock files so a regenerated lock downloads again.
locks=("$here"/litellm/files/default/locks/litellm-*.txt)
locks_hash=$(cat "${locks[@]}" | sha256sum | cut -c1-12)
if [ ! -e "$wheels/.complete-locks-$locks_hash" ]; then
  echo "deps: caching the locked LiteLLM wheels in $wheels" >&2
  mkdir -p "$wheels"
  for lock in "${locks[@]}"; do
    /usr/bin/python3 -m pip download -q --require-hashes --no-deps -d "$wheels" -r "$lock" >&2
  done
  touch "$wheels/.complete-locks-$locks_hash"
fi
# A dependency release LiteLLM 1.108.7 cannot start with (uvicorn before 0.20 has no
# timeout_graceful_shutdown): the tests' and the benchmark's bad upgrade, refused at its trial start.
if [ ! -e "$wheels/uvicorn-0.19.0-py3-none-any.whl" ]; then
  /usr/bin/python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheels" uvicorn==0.19.0 >&2
fi
# A virtualenv with the pinned LiteLLM, from those wheels, for the unit tests of the config check
# (test/unit/test_check_config.py; scripts/test.sh passes it as LITELLM_FORMULA_CHECK_PYTHON).
check_venv="$cache/venv-litellm-$lit_hash"
if [ ! -e "$check_venv/.complete" ]; then
  echo "deps: building LiteLLM venv $check_venv" >&2
  rm -rf "$check_venv"
  /usr/bin/python3 -m venv "$check_venv"
  "$check_venv/bin/pip" install -q --no-index --find-links "$wheels" -r "$here/requirements-litellm.txt" >&2
  touch "$check_venv/.complete"
fi
echo "$venv"
