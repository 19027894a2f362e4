#!/usr/bin/env bash
# A throwaway container whose PID 1 is systemd, booted from the host's own root filesystem through an
# overlay on a fresh tmpfs (recipe and reasons: docs/tests.md). Nothing written inside reaches
# the host, except through the bind mounts (the repository and the dependency cache).
#
#   container.sh run [--keep] -- CMD...   boot, run CMD inside (cwd = repository), tear down
#   container.sh exec DIR -- CMD...       run CMD in a container kept by `run --keep`
#   container.sh down DIR                 tear down a kept container
#
# CONTAINER_BINDS: extra host directories (space-separated) to bind at the same path inside.
# Teardown runs on success, failure, Ctrl-C and SIGTERM.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${LITELLM_FORMULA_CACHE:-/var/cache/litellm-formula}
guest_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "container: $*" >&2; }

guest_pid1() { cat "$1/pid1"; }

guest_exec() {
  local dir=$1; shift
  nsenter -t "$(guest_pid1 "$dir")" -m -u -i -n -p -C \
    env -i PATH="$guest_path" HOME=/root LANG=C.UTF-8 TERM=dumb \
    CI="${CI:-}" LITELLM_FORMULA_CACHE="$cache" PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-}" \
    LITELLM_FORMULA_CONTAINER_TOKEN="$(cat "$dir/token")" \
    bash -c 'cd "$0" && exec "$@"' "$repo" "$@"
}

boot() {
  local dir=$1 name
  name=$(basename "$dir")
  mkdir -p "$dir"
  mount -t tmpfs -o size=16G,mode=0755 "ct-$name" "$dir"
  mkdir -p "$dir"/{upper,work,merged}
  mount -t overlay "ct-$name" -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$dir/merged"
  tr -d '-' < /proc/sys/kernel/random/uuid > "$dir/merged/etc/machine-id"
  # The positive marker the integration tests require (test/integration/conftest.py): a file only this
  # guest has, holding a token only commands run through guest_exec are given.
  tr -d '-' < /proc/sys/kernel/random/uuid > "$dir/token"
  cp "$dir/token" "$dir/merged/etc/litellm-formula-test-container"
  # Host services (postgresql, ...) would start in the guest too: keep the guest minimal.
  find "$dir/merged/etc/systemd/system/multi-user.target.wants" -mindepth 1 \
    ! -name 'remote-fs.target' -delete 2>/dev/null || true
  for hier in systemd unified; do mkdir -p "/sys/fs/cgroup/$hier/$name"; done
  (
    for hier in systemd unified; do echo $BASHPID > "/sys/fs/cgroup/$hier/$name/cgroup.procs"; done
    exec systemd-nspawn -q -D "$dir/merged" --boot --register=no --keep-unit --console=passive \
      --bind="$repo" --bind="$cache" ${CONTAINER_BINDS:+$(printf -- '--bind=%s ' $CONTAINER_BINDS)} \
      --machine="$name" >"$dir/nspawn.log" 2>&1
  ) &
  echo $! > "$dir/nspawn.pid"
  local pid1="" i
  for i in $(seq 1 100); do
    pid1=$(pgrep -P "$(cat "$dir/nspawn.pid")" | head -1 || true)
    [ -n "$pid1" ] && [ "$(readlink "/proc/$pid1/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ] && break
    pid1=""
    sleep 0.1
  done
  [ -n "$pid1" ] || { log "guest systemd did not start"; cat "$dir/nspawn.log" >&2; return 1; }
  echo "$pid1" > "$dir/pid1"
  local state
  for i in $(seq 1 100); do
    state=$(timeout 60 nsenter -t "$pid1" -m -u -i -n -p -C env -i PATH="$guest_path" \
      systemctl is-system-running --wait 2>/dev/null || true)
    [ -n "$state" ] && break
    sleep 0.1
  done
  log "booted $name (guest PID 1 = $pid1, system state: $state)"
}

down() {
  local dir=$1 name nspawn pid1 i
  name=$(basename "$dir")
  nspawn=$(cat "$dir/nspawn.pid" 2>/dev/null || true)
  pid1=$(cat "$dir/pid1" 2>/dev/null || true)
  if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
    kill -TERM "$nspawn" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn" 2>/dev/null || true
  fi
  # If nspawn died first, the guest's systemd survives it: end it (and with it its PID namespace).
  if [ -n "$pid1" ] && [ "$(readlink "/proc/$pid1/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ]; then
    kill -KILL "$pid1" 2>/dev/null || true
    for i in $(seq 1 50); do [ -e "/proc/$pid1" ] || break; sleep 0.1; done
  fi
  umount -R "$dir/merged" 2>/dev/null || umount -l "$dir/merged" 2>/dev/null || true
  umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true
  for hier in systemd unified; do
    [ -d "/sys/fs/cgroup/$hier/$name" ] &&
      find "/sys/fs/cgroup/$hier/$name" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rmdir "$dir" 2>/dev/null || true
  log "removed $name"
}

cmd=${1:-}; shift || true
case "$cmd" in
  run)
    keep=0
    [ "${1:-}" = --keep ] && { keep=1; shift; }
    [ "${1:-}" = -- ] && shift
    dir=$(mktemp -d /var/tmp/litellm-ct.XXXXXX)
    if [ $keep = 0 ]; then
      trap 'down "$dir"' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
    fi
    boot "$dir"
    rc=0
    guest_exec "$dir" "$@" || rc=$?
    [ $keep = 1 ] && log "kept: $0 exec $dir -- CMD ... ; $0 down $dir"
    exit $rc
    ;;
  exec)
    dir=$1; shift; [ "${1:-}" = -- ] && shift
    guest_exec "$dir" "$@"
    ;;
  down)
    down "$1"
    ;;
  *)
    echo "usage: $0 run [--keep] -- CMD... | exec DIR -- CMD... | down DIR" >&2
    exit 2
    ;;
esac
