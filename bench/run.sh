#!/usr/bin/env bash
# `make bench`: install what is missing, boot a throwaway systemd container, run bench/bench.py in it
# (it deploys through the formula and prints one markdown table), tear the container down.
# Arguments go to bench.py (e.g. `make bench BENCH_ARGS="--seconds 20"`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$here/scripts/deps.sh" | tail -1)
exec "$here/scripts/container.sh" run -- "$venv/bin/python" bench/bench.py "$@"
