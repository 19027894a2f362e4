#!/usr/bin/env bash
# Runs inside the demo container (see demo.sh). Everything it creates dies with the container.
set -euo pipefail
repo=$(pwd)
cache=${LITELLM_FORMULA_CACHE:-/var/cache/litellm-formula}
demo=/var/tmp/litellm-demo
model=${DEMO_MODEL:-phi3:3.8b-mini-128k-instruct-q8_0}
port=4000
mkdir -p "$demo/conf" "$demo/pillar"
chmod 0700 "$demo"

if [ -z "${DEMO_BACKENDS:-}" ]; then
  # The Ollama API stand-in, as a transient unit of the container's systemd.
  systemd-run --quiet --unit=ollama-standin /usr/bin/python3 "$repo/test/ollama_standin.py" \
    --port 11434 --name standin --models "$model"
  backends="http://127.0.0.1:11434"
  # Quiet while it starts: a refused connection here is expected, not an error to show.
  for _ in $(seq 1 50); do curl -fs -o /dev/null http://127.0.0.1:11434/ && break; sleep 0.1; done
  curl -fsS -o /dev/null http://127.0.0.1:11434/
else
  backends=$DEMO_BACKENDS
fi

key="sk-demo-$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(16))')"
cat > "$demo/conf/minion" <<CONF
file_client: local
id: litellm-demo
root_dir: $demo/root
file_roots: {base: [$repo]}
pillar_roots: {base: [$demo/pillar]}
CONF
echo "base: {'*': [litellm]}" > "$demo/pillar/top.sls"
{
  echo "litellm:"
  echo "  master_key: $key"
  echo "  bind_port: $port"
  echo "  backends: [$(echo "$backends" | sed 's/,/, /g')]"
  echo "  models: [{name: demo-model, provider: ollama, model: '$model'}]"
  echo "  pip: {find_links: [$cache/wheels], no_index: true}"
} > "$demo/pillar/litellm.sls"
chmod 0600 "$demo/pillar/litellm.sls"

# Salt 3008 imports the deprecated crypt module: Python's warning about it is not the demo's concern.
salt="env PYTHONWARNINGS=ignore::DeprecationWarning $VENV/bin/salt-call -c $demo/conf --local --retcode-passthrough"
echo "== saltutil.sync_all"
$salt saltutil.sync_all >/dev/null
echo "== state.apply litellm"
start=$(date +%s)
$salt state.apply litellm --state-output=terse
echo "   (apply took $(( $(date +%s) - start )) s)"
echo "== systemctl status"
systemctl --no-pager status litellm | head -5
echo "== litellm.proxy_status"
$salt litellm.proxy_status --out=yaml
echo "== chat completion through the proxy (curl)"
printf 'Authorization: Bearer %s\n' "$key" > "$demo/auth-header"
curl -sS "http://127.0.0.1:$port/v1/chat/completions" -H @"$demo/auth-header" -H 'Content-Type: application/json' \
  -d '{"model": "demo-model", "messages": [{"role": "user", "content": "Say hello"}]}' | /usr/bin/python3 -m json.tool
