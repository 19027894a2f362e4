"""Issue 4: bad pillar changes nothing, faults are survived, secrets stay secret under the most
verbose logging, and load is held through a no-op apply and a health check.

One deployment for the module (two stand-ins, a plain pillar key in a `#!yaml` pillar file), the tests
in file order.
"""

import hashlib
import json
import os
import pathlib
import re
import secrets
import signal
import sqlite3
import stat
import subprocess
import threading
import time

import loadgen
import pytest
from conftest import MASTER_KEY, SDB_DATABASE, SERVICE, base_pillar, deployment, service_dropin
from helpers import http, unit_pids

pytestmark = pytest.mark.integration

CONFIG_DIR = pathlib.Path("/etc/litellm")
CONFIG = CONFIG_DIR / "config.yaml"
KEY_FILE = CONFIG_DIR / "master_key.env"
UNIT = pathlib.Path(f"/etc/systemd/system/{SERVICE}.service")
MODEL = "phi3-3.8b"
TAG = "phi3:3.8b-mini-128k-instruct-q8_0"
SEEN = []


@pytest.fixture(scope="module")
def good_pillar(fleet, port):
    return base_pillar([s.url for s in fleet.members[:2]], port)


@pytest.fixture(scope="module")
def deployed(salt_cli, salt_minion, pillar, good_pillar, port):
    with deployment(salt_cli, salt_minion, pillar, good_pillar, port, SEEN) as data:
        yield data


def apply(salt_cli, minion, *args, **kwargs):
    ret = salt_cli.run("state.apply", "litellm", *args, minion_tgt=minion.id, **kwargs)
    SEEN.append(json.dumps(ret.data) + ret.stdout + ret.stderr)
    return ret


def failed(ret):
    if not isinstance(ret.data, dict):
        return ret.data
    return {r["__id__"]: r["comment"] for r in ret.data.values() if r["result"] is False}


def changes(ret):
    return {r["__id__"]: r["changes"] for r in ret.data.values() if r["changes"]}


LEDGER = pathlib.Path("/var/lib/litellm-formula/litellm.owned")


def digest_of_host():
    """What a bad apply must not change: the formula's files and ledger, the account databases, the
    unit directory, and who owns the system directories a bad pillar names."""
    files = [CONFIG, CONFIG_DIR / "litellm.env", KEY_FILE, UNIT, LEDGER, *map(pathlib.Path, (
        "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"))]
    digest = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    for path in ("/usr", "/etc", "/var/lib/dpkg", "/opt", "/srv", "/var/lib", "/tmp/pwned"):
        try:
            st = os.stat(path)
            digest[path] = (st.st_mode, st.st_uid, st.st_gid)
        except FileNotFoundError:
            digest[path] = None
    digest["units"] = sorted(os.listdir("/etc/systemd/system"))
    return digest


def prop(name):
    return subprocess.run(["systemctl", "show", "-p", name, "--value", f"{SERVICE}.service"],
                          capture_output=True, text=True, check=False).stdout.strip()


def chat(port, stream=False, model=MODEL, timeout=30):
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello"}], "stream": stream}
    try:
        status, headers, raw = http("POST", f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                    {"Authorization": f"Bearer {MASTER_KEY}"}, timeout)
    except OSError as exc:
        return None, {}, str(exc)
    text = raw.decode(errors="replace")
    if status == 200 and stream:
        parts = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
        if not text.rstrip().endswith("data: [DONE]") or any("error" in p for p in parts):
            return 599, headers, "stream cut: " + text[-200:]
        text = "".join((p["choices"][0]["delta"].get("content") or "") for p in parts if p.get("choices"))
    elif status == 200:
        text = json.loads(text)["choices"][0]["message"]["content"]
    return status, headers, text


def serving(port, timeout=60):
    """Seconds until a chat completion succeeds again."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if chat(port, timeout=5)[0] == 200:
            return time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"the proxy did not serve again within {timeout}s")


# --------------------------------------------------------------------------------------------------
# 1. Pillar validation before any change
# --------------------------------------------------------------------------------------------------

BAD_PILLARS = [
    ("port 0", {"bind_port": 0}, "litellm:bind_port"),
    ("port 70000", {"bind_port": 70000}, "litellm:bind_port"),
    ("port as a string", {"bind_port": "4000"}, "litellm:bind_port"),
    ("bind_host a name", {"bind_host": "proxy.example.com"}, "litellm:bind_host"),
    ("backend ftp", {"backends": ["ftp://10.0.0.5:11434"]}, "litellm:backends:0"),
    ("backend with /v1", {"backends": ["http://10.0.0.5:11434/v1"]}, "litellm:backends:0"),
    ("backend with credentials", {"backends": ["http://admin:pw@10.0.0.5:11434"]}, "litellm:backends:0"),
    ("duplicate backends", {"backends": ["http://10.0.0.5:11434", "http://10.0.0.5:11434/"]}, "litellm:backends:1"),
    ("no backends", {"backends": []}, "litellm:backends"),
    ("no models", {"models": []}, "litellm:models"),
    ("model without name", {"models": [{"provider": "ollama", "model": TAG}]}, "litellm:models:0:name"),
    ("model without tag", {"models": [{"name": "m", "provider": "ollama"}]}, "litellm:models:0:model"),
    ("duplicate model names, conflicting backends",
     {"models": [{"name": "m", "model": TAG, "backends": ["BACKEND0"]},
                 {"name": "m", "model": TAG, "backends": ["BACKEND1"]}]}, "litellm:models:1:name"),
    ("unknown provider", {"models": [{"name": "m", "provider": "openai", "model": TAG}]},
     "litellm:models:0:provider"),
    ("model naming an unlisted backend", {"models": [{"name": "m", "model": TAG,
                                                      "backends": ["http://10.9.9.9:11434"]}]},
     "litellm:models:0:backends"),
    ("service_user root", {"service_user": "root"}, "litellm:service_user"),
    ("version latest", {"version": "latest"}, "litellm:version"),
    ("version range", {"version": ">=1.0"}, "litellm:version"),
    ("version 1.82.7 (malware)", {"version": "1.82.7"}, "litellm:version"),
    ("version 1.82.8 (malware)", {"version": "1.82.8"}, "litellm:version"),
    ("zero workers", {"num_workers": 0}, "litellm:num_workers"),
    ("backends a string", {"backends": "http://10.0.0.5:11434"}, "litellm:backends"),
    ("bind_host a list", {"bind_host": ["127.0.0.1"]}, "litellm:bind_host"),
    ("models a string", {"models": "phi3"}, "litellm:models"),
    ("router a string", {"router": "fast"}, "litellm:router"),
    ("timeout a string", {"router": {"timeout": "long"}}, "litellm:router:timeout"),
    ("health probe of 0 tokens", {"health_check": {"max_tokens": 0}}, "litellm:health_check:max_tokens"),
    ("reserved environment variable", {"environment": {"PORT": "9"}}, "litellm:environment:PORT"),
    ("log level a typo", {"log_level": "VERBOSE"}, "litellm:log_level"),
    ("state_dir outside /var/lib", {"state_dir": "/srv/litellm"}, "litellm:state_dir"),
    # Host damage and takeovers (README "What the formula owns"): the schema, then the host itself.
    ("install_dir /usr", {"install_dir": "/usr"}, "litellm:install_dir"),
    ("config_dir /etc", {"config_dir": "/etc"}, "litellm:config_dir"),
    ("state_dir /var/lib/dpkg", {"state_dir": "/var/lib/dpkg"}, "litellm:state_dir"),
    ("service_user nobody", {"service_user": "nobody"}, "litellm:service_user"),
    ("service_name ssh", {"service_name": "ssh"}, "litellm:service_name"),
    ("python with a shell command", {"python": "/usr/bin/python3; touch /tmp/pwned"}, "litellm:python"),
    ("service_name of a unit a package ships (host check)",
     {"service_name": "apt-daily", "service_user": "apt-daily", "service_group": "apt-daily"},
     "litellm:service_name"),
    ("an existing system account, adopted (host check)",
     {"service_user": "litellm-x", "adopt": ["service_user"]}, "TAKEOVER"),
    ("unknown key (typo)", {"bind_prot": 4001}, "litellm:bind_prot"),
    ("key in extra_config", {"extra_config": {"general_settings": {"master_key": "sk-inline-0123456789abc"}}},
     "litellm:extra_config:general_settings:master_key"),
    ("weak keys permitted through extra_config",
     {"extra_config": {"general_settings": {"dangerously_permit_weak_or_unset_master_key": True}}},
     "litellm:extra_config:general_settings:dangerously_permit_weak_or_unset_master_key"),
    ("empty master key", {"master_key": ""}, "litellm:master_key"),
    ("weak master key", {"master_key": "sk-1234"}, "litellm:master_key"),
]
BAD_TABLE = []  # (case, first line of the message) for the closing note


@pytest.fixture
def system_account():
    """An account of the distribution's range (uid below 100) that pillar then tries to adopt."""
    subprocess.run(["useradd", "--system", "--uid", "77", "--no-create-home", "litellm-x"], check=True)
    try:
        yield "litellm-x"
    finally:
        subprocess.run(["userdel", "litellm-x"], check=False)


@pytest.mark.parametrize(("case", "change", "key"), BAD_PILLARS, ids=[c[0] for c in BAD_PILLARS])
def test_bad_pillar_fails_naming_the_key_and_changes_nothing(salt_cli, salt_minion, pillar, deployed, fleet, case,
                                                             change, key, request):
    change = json.loads(json.dumps(change).replace("BACKEND0", fleet.members[0].url)
                        .replace("BACKEND1", fleet.members[1].url))
    if key == "TAKEOVER":
        request.getfixturevalue("system_account")
        key = "litellm:service_user"
    before, pid = digest_of_host(), prop("MainPID")
    pillar.set({**deployed, **change})
    try:
        ret = apply(salt_cli, salt_minion)
    finally:
        pillar.set(deployed)
    assert ret.returncode != 0
    assert isinstance(ret.data, list), "no state may run with a bad pillar"
    text = "\n".join(ret.data)
    assert f"{key}:" in text
    if "master_key" in change and change["master_key"]:
        assert change["master_key"] not in text.replace("litellm:master_key", "")
    assert digest_of_host() == before
    assert prop("MainPID") == pid
    assert chat(deployed["bind_port"])[0] == 200
    line = next(line.strip() for line in text.splitlines() if line.strip().startswith(key + ":"))
    BAD_TABLE.append((case, line))


def test_bad_input_table_is_recorded(record_figure):
    assert len(BAD_TABLE) == len(BAD_PILLARS) >= 25
    for case, line in BAD_TABLE:
        record_figure(f"bad pillar: {case}", line)


# --------------------------------------------------------------------------------------------------
# 3. Faults
# --------------------------------------------------------------------------------------------------


def test_sigkilled_proxy_is_brought_back(deployed, record_figure):
    pid, restarts = prop("MainPID"), int(prop("NRestarts"))
    subprocess.run(["systemctl", "kill", "-s", "KILL", f"{SERVICE}.service"], check=True)
    took = serving(deployed["bind_port"])
    assert prop("MainPID") != pid
    assert int(prop("NRestarts")) == restarts + 1
    record_figure("SIGKILL -> serving again", f"{took:.1f}s (RestartSec=1 included)")


@pytest.fixture
def crash_on_start():
    """A drop-in that gives the proxy the weak key sk-1234, which it refuses (exit 3) at every start."""
    weak = pathlib.Path("/run/litellm-test-weak.env")
    weak.write_text("LITELLM_MASTER_KEY=sk-1234\n")
    try:
        with service_dropin("zz-test-crash", f"[Service]\nEnvironmentFile={weak}\n"):
            yield
    finally:
        weak.unlink()


def test_crash_loop_backs_off_and_ends_in_a_failed_state(salt_cli, salt_minion, deployed, crash_on_start,
                                                                      record_figure):
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    time.sleep(1.1)
    start = time.monotonic()
    subprocess.run(["systemctl", "restart", f"{SERVICE}.service"], check=False)
    # Between crashes the unit is activating/auto-restart; at the end of the loop it stays failed.
    while time.monotonic() - start < 150:
        if (prop("ActiveState"), prop("SubState")) == ("failed", "failed"):
            break
        time.sleep(0.5)
    took = time.monotonic() - start
    restarts = prop("NRestarts")
    time.sleep(3)  # longer than RestartSec=1: nothing restarts it any more
    assert (prop("ActiveState"), prop("NRestarts")) == ("failed", restarts)
    out = subprocess.run(["journalctl", "--no-pager", "-o", "short-unix", "_PID=1", f"UNIT={SERVICE}.service",
                          "--since", since], capture_output=True, text=True, check=False).stdout
    assert "Start request repeated too quickly" in out
    starts = [float(line.split()[0]) for line in out.splitlines() if " Started " in line]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert 3 <= len(starts) <= 6, out[-2000:]
    assert min(gaps) >= 1, gaps  # RestartSec=1: no tight loop
    record_figure("crash loop (proxy exits 3 at every start)",
                  f"{len(starts)} starts, gaps {min(gaps):.1f}-{max(gaps):.1f}s, then failed "
                  f"(start request repeated too quickly) after {took:.0f}s")


def test_an_apply_restarts_a_failed_unit(salt_cli, salt_minion, deployed):
    # Runs after the crash test removed its drop-in: the unit is failed and refusing starts.
    assert prop("ActiveState") == "failed"
    ret = apply(salt_cli, salt_minion)
    assert ret.returncode == 0, failed(ret)
    assert "litellm-service-running-unit-reset" in changes(ret)
    assert prop("ActiveState") == "active"
    assert chat(deployed["bind_port"])[0] == 200


def test_every_apply_checks_that_the_proxy_serves(salt_cli, salt_minion, pillar, deployed):
    # Stopped by hand: the next apply starts it again and waits until it serves.
    subprocess.run(["systemctl", "stop", SERVICE], check=True)
    ret = apply(salt_cli, salt_minion)
    assert ret.returncode == 0, failed(ret)
    assert prop("ActiveState") == "active" and chat(deployed["bind_port"])[0] == 200
    # Running but not serving (every process frozen), and nothing for the apply to restart: it fails,
    # naming the reason, instead of reporting green.
    pillar.set({**deployed, "startup_timeout": 10})  # TimeoutStartSec= follows: one restart, now
    assert apply(salt_cli, salt_minion).returncode == 0
    pids = unit_pids(f"{SERVICE}.service")
    assert pids
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        ret = apply(salt_cli, salt_minion)  # the same pillar: nothing to restart
        assert ret.returncode != 0
        comment = failed(ret)["litellm-service-running-proxy-healthy"]
        assert "Not healthy after 10s" in comment and "does not answer" in comment, comment
        assert "litellm-service-running-service-running" not in changes(ret)  # it did not restart it
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        pillar.set(deployed)
    ret = apply(salt_cli, salt_minion)
    assert ret.returncode == 0, failed(ret)


def test_backend_dying_mid_stream_costs_only_its_streams_and_rejoins(deployed, fleet, record_figure):
    port = deployed["bind_port"]
    b = fleet.members[1]
    for member in fleet.members[:2]:
        member.knobs(token_delay=0.05)  # about 0.5 s per streamed answer
    results, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            status, headers, text = chat(port, stream=True)
            results.append((time.monotonic(), status, headers.get("x-litellm-model-api-base"), text))

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(5)
        b.process.kill()  # SIGKILL while streams are in flight
        b.process.wait(5)
        killed_at = time.monotonic()
        time.sleep(10)
        b.start()
        b.knobs(token_delay=0.05)
        back_at = time.monotonic()
        deadline = back_at + 90
        while time.monotonic() < deadline:
            if any(t > back_at and base == b.url and s == 200 for t, s, base, _ in list(results)):
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        for member in fleet.members[:2]:
            if member.process:
                member.knobs(token_delay=0)
    rejoined = [t for t, s, base, _ in results if t > back_at and base == b.url and s == 200]
    failures = [(round(t - killed_at, 2), s, text[:120]) for t, s, _, text in results if s != 200]
    assert rejoined, "the restarted backend never served again"
    # Only what was on the wire to b when it died may fail: at most one stream per client.
    assert len(failures) <= len(threads), failures
    assert all(-1 < t < 2 for t, _, _ in failures), failures
    record_figure("backend killed mid-stream (4 streaming clients)",
                  f"{len(failures)}/{len(results)} requests failed; rejoined {rejoined[0] - back_at:.1f}s "
                  "after it came back")


def test_all_backends_dead_fast_errors_health_says_why_and_service_resumes(salt_minion, deployed, fleet,
                                                                          record_figure):
    port = deployed["bind_port"]
    a, b = fleet.members[:2]
    pid = prop("MainPID")
    a.stop()
    b.stop()
    try:
        timings = []
        for _ in range(5):
            start = time.monotonic()
            status, _, _ = chat(port, timeout=60)
            timings.append(time.monotonic() - start)
            assert status is not None and status >= 400
        assert max(timings) < deployed.get("router", {}).get("timeout", 300)
        assert max(timings) < 10
        health = salt_minion.salt_call_cli(timeout=120).run("litellm.health")
        SEEN.append(json.dumps(health.data))
        assert health.returncode != 0
        assert "no backend can serve it" in health.data["summary"]
        assert f"backend {a.url} down" in health.data["summary"]
        assert http("GET", f"http://127.0.0.1:{port}/health/liveliness")[0] == 200
    finally:
        a.start()
    took = serving(port, timeout=90)
    b.start()
    assert prop("MainPID") == pid
    record_figure("all backends dead", f"each request refused in {max(timings):.2f}s at most; served again "
                  f"{took:.1f}s after one backend came back")


def _mount(*args):
    subprocess.run(["mount", *args], check=True)


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_config_dir_read_only_or_full_fails_clearly_and_keeps_the_old_config(salt_cli, salt_minion, pillar, deployed,
                                                                             fault, tmp_path):
    before_config, pid = CONFIG.read_bytes(), prop("MainPID")
    if fault == "read-only":
        _mount("--bind", str(CONFIG_DIR), str(CONFIG_DIR))
        _mount("-o", "remount,bind,ro", str(CONFIG_DIR))
    else:
        # A full filesystem holding a copy of the directory, over the real one.
        copy = subprocess.run(["cp", "-a", str(CONFIG_DIR), str(tmp_path / "copy")], check=True)
        assert copy.returncode == 0
        _mount("-t", "tmpfs", "-o", "size=64k,mode=0750", "tmpfs", str(CONFIG_DIR))
        subprocess.run(["cp", "-a", f"{tmp_path / 'copy'}/.", str(CONFIG_DIR)], check=True)
        subprocess.run(["dd", "if=/dev/zero", f"of={CONFIG_DIR / 'filler'}", "bs=4k"], capture_output=True,
                       check=False)
    try:
        pillar.set({**deployed, "models": deployed["models"] + [{"name": "extra", "model": "llama3.2:1b"}]})
        ret = apply(salt_cli, salt_minion)
        assert ret.returncode != 0
        comment = failed(ret)["litellm-config-file-config-managed"]
        assert ("Read-only file system" in comment) if fault == "read-only" else \
            ("No space left on device" in comment), comment
        assert CONFIG.read_bytes() == before_config
        assert prop("MainPID") == pid
        assert chat(deployed["bind_port"])[0] == 200
    finally:
        subprocess.run(["umount", str(CONFIG_DIR)], check=True)
        pillar.set(deployed)
    assert CONFIG.read_bytes() == before_config


# --------------------------------------------------------------------------------------------------
# 4. Secrets under stress: LiteLLM at DEBUG, Salt at `all`
# --------------------------------------------------------------------------------------------------


def test_secrets_stay_secret_under_debug_logging(salt_cli, salt_minion, salt_master, pillar, deployed,
                                                 event_listener):
    # Every other secret-bearing field too, as a literal and through sdb (written straight into the
    # store, so no command line of the test carries it): environment values and extra_config secrets.
    others = {name: f"{name}-" + secrets.token_hex(12) for name in ("env", "env-sdb", "extra", "extra-sdb", "url")}
    os.makedirs(os.path.dirname(SDB_DATABASE), mode=0o700, exist_ok=True)
    with sqlite3.connect(SDB_DATABASE) as store:
        store.execute("CREATE TABLE IF NOT EXISTS sdb (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        store.executemany("INSERT OR REPLACE INTO sdb (key, value) VALUES (?, ?)",
                          [("env_token", others["env-sdb"]), ("cache_token", others["extra-sdb"])])
    keys = [MASTER_KEY, *others.values()]
    debug = {**deployed, "log_level": "DEBUG",
             "environment": {"VENDOR_API_TOKEN": others["env"], "VENDOR_SDB_TOKEN": "sdb://litellm_sdb/env_token"},
             "extra_config": {"litellm_settings": {"cache_params": {
                 "password": others["extra"], "ttl": 60, "auth_token": "sdb://litellm_sdb/cache_token",
                 "replica": f"redis://:{others['url']}@10.0.0.9:6379/0"}}}}
    pillar.set(debug)
    ret = apply(salt_cli, salt_minion)
    assert ret.returncode == 0, failed(ret)
    # They reach the service, and config.yaml holds only references to them.
    environ = pathlib.Path(f"/proc/{prop('MainPID')}/environ").read_bytes().split(b"\0")
    assert f"VENDOR_API_TOKEN={others['env']}".encode() in environ
    assert f"VENDOR_SDB_TOKEN={others['env-sdb']}".encode() in environ
    ref = "LITELLM_FORMULA_SECRET_LITELLM_SETTINGS_CACHE_PARAMS_"
    assert f"{ref}PASSWORD={others['extra']}".encode() in environ
    assert f"{ref}AUTH_TOKEN={others['extra-sdb']}".encode() in environ
    assert f"{ref}REPLICA=redis://:{others['url']}@10.0.0.9:6379/0".encode() in environ
    assert f"password: os.environ/{ref}PASSWORD" in CONFIG.read_text()
    env_changes = changes(ret)["litellm-config-environ-env-file-managed"]
    assert "VENDOR_API_TOKEN" in env_changes["changed"] and env_changes["values"] == "hidden"
    warned = [r for r in ret.data.values() if r["__id__"] == "litellm-config-file-debug-logging-warned"]
    assert warned and "WARNING" in warned[0]["comment"]
    assert chat(deployed["bind_port"])[0] == 200
    assert chat(deployed["bind_port"], stream=True)[0] == 200
    http("GET", f"http://127.0.0.1:{deployed['bind_port']}/v1/models", headers={"Authorization": "Bearer sk-x"})
    SEEN.append(json.dumps(salt_minion.salt_call_cli(timeout=120).run("litellm.health", "deep=True").data))
    # The minion's own key, rotated at DEBUG too.
    # Switching to `generate` keeps the key in place (no outage); the rotation makes a new one.
    generated = {k: v for k, v in debug.items() if k != "master_key"} | {"master_key_source": "generate"}
    pillar.set(generated)
    assert apply(salt_cli, salt_minion).returncode == 0
    assert KEY_FILE.read_text().split("LITELLM_MASTER_KEY=")[1].strip() == MASTER_KEY
    rotated = salt_minion.salt_call_cli(timeout=300).run("litellm.rotate_master_key")
    SEEN.append(json.dumps(rotated.data))
    assert rotated.returncode == 0, rotated.data
    keys.append(KEY_FILE.read_text().split("LITELLM_MASTER_KEY=")[1].strip())
    assert keys[-1] != MASTER_KEY

    journal = subprocess.run(["journalctl", "--no-pager", "-o", "verbose"], capture_output=True, text=True).stdout
    assert "LiteLLM" in journal or "litellm" in journal
    logs = {name: pathlib.Path(daemon.config["log_file"]).read_text(errors="replace")
            for name, daemon in (("minion log", salt_minion), ("master log", salt_master))}
    # Proof that both daemons logged at their most verbose levels: lines tagged TRACE or GARBAGE.
    for name, text in logs.items():
        assert re.search(r"\]\[(TRACE|GARBAGE) *\]", text), f"{name}: no TRACE or GARBAGE line"
    jobs = pathlib.Path(salt_master.config["cachedir"]) / "jobs"
    job_cache = b"".join(p.read_bytes() for p in jobs.rglob("*") if p.is_file())
    events = json.dumps([e.full_data for e in event_listener.get_events([("*", "*")])], default=str)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    show = subprocess.run(["systemctl", "show", f"{SERVICE}.service"], capture_output=True, text=True).stdout
    assert _files_readable_by_non_root_holding(keys) == [], "a secret is in a file non-root users can read"
    for key in keys:
        for where, text in [("journal", journal), ("ps", ps), ("systemctl show", show),
                            ("returns", "".join(SEEN)), ("events", events), *logs.items()]:
            assert key not in text, f"a secret ({key[:6]}...) leaked into the {where}"
        assert key.encode() not in job_cache, f"a secret ({key[:6]}...) leaked into the job cache"
    pillar.set(deployed)
    assert apply(salt_cli, salt_minion).returncode == 0


def _files_readable_by_non_root_holding(keys):
    """Regular files that a non-root user could read (other-readable, or group-readable with a
    non-root group, below directories others may traverse) and that hold one of ``keys``."""
    needles = [key.encode() for key in keys]
    found = []
    for root in ["/etc", "/var", "/opt", "/run", "/tmp", "/srv", "/root", "/home"]:
        for dirpath, dirnames, filenames in os.walk(root):
            try:
                if not os.stat(dirpath).st_mode & 0o001:
                    dirnames[:] = []  # others cannot enter: nothing below is readable to them
                    continue
            except OSError:
                continue
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size > 20_000_000:
                    continue
                if st.st_mode & 0o004 or (st.st_mode & 0o040 and st.st_gid != 0):
                    try:
                        with open(path, "rb") as handle:
                            data = handle.read()
                    except OSError:
                        continue
                    if any(needle in data for needle in needles):
                        found.append(path)
    return found


# --------------------------------------------------------------------------------------------------
# 5. Load held through a no-op apply and a health check
# --------------------------------------------------------------------------------------------------


def _load(port, stop, clients=8):
    """Closed-loop chat clients (plain and streaming) until ``stop`` is set; returns a thread and the
    Summary it fills in."""
    summary = loadgen.Summary()

    def run():
        summary.outcomes.extend(loadgen.run(port, MASTER_KEY, MODEL, clients, 600, stream="mixed", stop=stop).outcomes)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, summary


def _between(summary, start, end):
    """Outcomes of requests that were in flight at some moment between ``start`` and ``end``."""
    return [o for o in summary.outcomes if o.started <= end and o.started + o.seconds >= start]


def test_changes_under_load_drop_no_request(salt_cli, salt_minion, pillar, deployed, record_figure):
    # systemd holds the port (litellm.socket): during a restart, connections wait in its queue; the
    # old workers drain. A no-op apply and a health check change nothing; a config change (a model
    # added) and a plain restart each start the proxy once; a SIGKILL of the main process fails at
    # most what was in flight.
    port = deployed["bind_port"]
    added = {**deployed, "models": deployed["models"] + [{"name": "second", "model": TAG}]}
    stop, marks = threading.Event(), {}
    thread, summary = _load(port, stop)
    try:
        time.sleep(3)
        pid, restarts = prop("MainPID"), prop("NRestarts")
        marks["noop"] = time.monotonic()
        noop = apply(salt_cli, salt_minion)
        health = salt_minion.salt_call_cli(timeout=120).run("litellm.health")
        SEEN.append(json.dumps(health.data))
        assert (prop("MainPID"), prop("NRestarts")) == (pid, restarts)
        marks["config"] = time.monotonic()
        pillar.set(added)
        config = apply(salt_cli, salt_minion)
        marks["restart"] = time.monotonic()
        subprocess.run(["systemctl", "restart", f"{SERVICE}.service"], check=True)
        serving(port)
        time.sleep(2)
        marks["kill"] = time.monotonic()
        subprocess.run(["systemctl", "kill", "-s", "KILL", "--kill-whom=main", f"{SERVICE}.service"], check=True)
        serving(port)
        time.sleep(2)
        marks["end"] = time.monotonic()
    finally:
        stop.set()
        thread.join(120)
        pillar.set(deployed)
    assert noop.returncode == 0 and changes(noop) == {}
    assert health.returncode == 0 and health.data["status"] == "healthy", health.data["summary"]
    assert config.returncode == 0 and "litellm-service-running-service-running" in changes(config)
    planned = [o for o in _between(summary, marks["noop"], marks["kill"]) if not o.ok]
    at_kill = [o for o in summary.outcomes if not o.ok and o not in planned]
    in_flight_at_kill = _between(summary, marks["kill"], marks["kill"])
    journal = subprocess.run(["journalctl", "-u", SERVICE, "--no-pager", "-o", "short-precise", "-n", "60"],
                             capture_output=True, text=True).stdout
    assert planned == [], f"{len(planned)} failed during planned changes: {planned[:5]}; journal:\n{journal}"
    assert len(at_kill) <= len(in_flight_at_kill), (at_kill, len(in_flight_at_kill))
    longest = {name: max((o.seconds for o in _between(summary, marks[name], marks[after])), default=0)
               for name, after in (("config", "restart"), ("restart", "kill"), ("kill", "end"))}
    record_figure("changes under load (8 clients, plain and streaming)",
                  f"{summary.sent} requests; no-op apply + health, config change, restart: 0 failed; "
                  f"SIGKILL: {len(at_kill)} failed of {len(in_flight_at_kill)} in flight; longest wait: config change "
                  f"{longest['config']:.1f} s, restart {longest['restart']:.1f} s, SIGKILL {longest['kill']:.1f} s")


def test_a_restart_drains_a_long_stream_while_new_requests_wait(deployed, fleet, salt_cli, salt_minion, pillar):
    # A generation that takes 6 s is in flight when the proxy restarts: it finishes (the drain window
    # is as long as router:timeout), and a request sent during the drain waits in the socket's queue
    # and is served by the new proxy.
    slow = fleet.start("slow", extra_args=["--token-time", "0.4", "--num-tokens", "15"])
    pillar.set({**deployed, "backends": deployed["backends"] + [slow.url],
                "models": deployed["models"] + [{"name": "slow", "model": TAG, "backends": [slow.url]}]})
    try:
        assert apply(salt_cli, salt_minion).returncode == 0
        port = deployed["bind_port"]
        results = {}
        def long_stream():
            began = time.monotonic()
            results["long"] = chat(port, stream=True, model="slow")
            results["long_seconds"] = time.monotonic() - began

        streaming = threading.Thread(target=long_stream)
        streaming.start()
        time.sleep(1.5)
        pid = prop("MainPID")
        restart = threading.Thread(target=lambda: subprocess.run(["systemctl", "restart", f"{SERVICE}.service"]))
        restart.start()
        time.sleep(0.5)
        started = time.monotonic()
        results["during"] = chat(port)
        waited = time.monotonic() - started
        streaming.join(60)
        restart.join(60)
        status, _, text = results["long"]
        assert status == 200 and text, text  # 599: the stream was cut
        assert results["long_seconds"] > 5, results  # it really was in flight through the restart
        assert results["during"][0] == 200, results["during"]
        assert prop("MainPID") not in (pid, "0")
        assert waited > 2, "the request sent during the drain was not held (did the restart happen?)"
    finally:
        pillar.set(deployed)
        apply(salt_cli, salt_minion)


