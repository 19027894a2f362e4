#!/usr/bin/env bash
# The main job (`make demo`): boot a throwaway systemd container, apply the formula inside it
# masterless (salt-call --local state.apply litellm) with a demo pillar, print the proxy's health and a
# chat completion made with curl through the proxy, then tear the container down.
#   --keep                      leave the container running (prints how to enter and remove it)
#   DEMO_BACKENDS=url1,url2     real Ollama servers to use instead of the stand-in
#   DEMO_MODEL=tag              the Ollama model tag to serve (default phi3:3.8b-mini-128k-instruct-q8_0)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$here/scripts/deps.sh" | tail -1)
keep=()
[ "${1:-}" = --keep ] && keep=(--keep)
exec "$here/scripts/container.sh" run "${keep[@]}" -- env VENV="$venv" \
  DEMO_BACKENDS="${DEMO_BACKENDS:-}" DEMO_MODEL="${DEMO_MODEL:-}" bash scripts/demo-inside.sh
