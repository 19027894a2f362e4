"""Issue 2: `state.apply litellm` through a real salt-master and salt-minion, under a real systemd,
against a real LiteLLM proxy in front of two Ollama API stand-ins.

The tests run in file order and build on each other, as an operator's day would: a refused apply on
a clean host, the first deployment, traffic, a no-op re-apply, secrets, failover, a predicted and
then applied pillar change, and finally `litellm.clean`.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import secrets
import socket
import subprocess
import threading
import time

import pytest
import yaml
from conftest import MASTER_KEY, SERVICE, WHEELS, base_pillar, service_dropin
from helpers import REPO, free_port, http, unit_pids, wait_for_port
from wheel_index import WheelIndex

pytestmark = pytest.mark.integration

CONFIG = pathlib.Path("/etc/litellm/config.yaml")
ENV_FILE = pathlib.Path("/etc/litellm/litellm.env")
KEY_FILE = pathlib.Path("/etc/litellm/master_key.env")
UNIT = pathlib.Path(f"/etc/systemd/system/{SERVICE}.service")
VENV = pathlib.Path("/opt/litellm/current")  # the link the unit runs
MODEL = "phi3-3.8b"
RETURNS = []  # every state return of this module, for the secrets test


@pytest.fixture(scope="module")
def deployed_pillar(fleet, port):
    # The config directory exists before the first apply (left by another tool): adopted.
    return base_pillar([s.url for s in fleet.members[:2]], port, adopt=["config_dir"])


def apply(salt_cli, minion, *args, **kwargs):
    ret = salt_cli.run("state.apply", *args, minion_tgt=minion.id, **kwargs)
    RETURNS.append(json.dumps(ret.data))
    return ret


def states(ret):
    assert isinstance(ret.data, dict), f"the apply did not run any state: {ret.data}"
    return ret.data


def changed(ret):
    return {r["__id__"]: r["changes"] for r in states(ret).values() if r["changes"]}


def failed(ret):
    if not isinstance(ret.data, dict):
        return ret.data
    return {r["__id__"]: r["comment"] for r in ret.data.values() if r["result"] is False}


def auth(key=MASTER_KEY):
    return {"Authorization": f"Bearer {key}"}


def chat(port, stream=False, model=MODEL, key=MASTER_KEY, timeout=30):
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello"}], "stream": stream}
    status, headers, raw = http("POST", f"http://127.0.0.1:{port}/v1/chat/completions", body, auth(key), timeout)
    if status != 200 or not stream:
        return status, headers, raw.decode(errors="replace") if status != 200 else \
            json.loads(raw)["choices"][0]["message"]["content"]
    events = [line[len("data: "):] for line in raw.decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]", events[-3:]
    text = "".join((json.loads(e)["choices"][0]["delta"].get("content") or "") for e in events[:-1])
    return status, headers, text


def host_untouched():
    """What must not exist before the first successful apply."""
    leftovers = [str(p) for p in (CONFIG.parent, VENV.parent, UNIT) if p.exists()]
    user = subprocess.run(["getent", "passwd", "litellm"], capture_output=True, check=False)
    if user.returncode == 0:
        leftovers.append("user litellm")
    return leftovers


@pytest.mark.parametrize("bad_key", [None, "", "sk-1234"], ids=["missing", "empty", "weak"])
def test_j_bad_master_key_fails_before_any_change(salt_cli, salt_minion, pillar, deployed_pillar, bad_key):
    data = dict(deployed_pillar)
    if bad_key is None:
        del data["master_key"]
    else:
        data["master_key"] = bad_key
    pillar.set(data)
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode != 0
    assert not isinstance(ret.data, dict) or not any(r.get("changes") for r in ret.data.values())
    assert "litellm:master_key" in json.dumps(ret.data)
    assert host_untouched() == []


def test_a_first_apply_deploys_a_running_enabled_service(salt_cli, salt_minion, pillar, deployed_pillar, host, port,
                                                        record_figure):
    # What another tool left where the config goes (the Ansible role's directory, say): refused
    # before any change unless pillar adopts it; adopted, it is the formula's (clean removes it).
    CONFIG.parent.mkdir(mode=0o755)
    (CONFIG.parent / "notes.txt").write_text("left by another tool\n")
    pillar.set({key: value for key, value in deployed_pillar.items() if key != "adopt"})
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode != 0 and isinstance(ret.data, list), "no state may run"
    assert (f"litellm:config_dir: the directory {CONFIG.parent} exists and was not created by this formula"
            in "\n".join(ret.data))
    assert host_untouched() == [str(CONFIG.parent)] and not pathlib.Path("/var/lib/litellm-formula").exists()
    assert oct(CONFIG.parent.stat().st_mode & 0o777) == "0o755" and CONFIG.parent.stat().st_gid == 0
    pillar.set(deployed_pillar)
    start = time.monotonic()
    ret = apply(salt_cli, salt_minion, "litellm")
    record_figure("first apply (from the wheel cache)", f"{time.monotonic() - start:.1f}s")
    assert ret.returncode == 0, failed(ret)
    assert failed(ret) == {}
    assert (CONFIG.parent / "notes.txt").exists()  # adopted, not emptied
    # The ledger was claimed first and confirmed last (Salt 3008 runs an order-last state early when
    # a required SLS includes it), and lists what the apply created.
    runs = {r["__id__"]: r["__run_num__"] for r in ret.data.values()}
    assert runs["litellm-ownership-ledger-claimed"] < min(
        runs["litellm-user-account-group-present"], runs["litellm-config-file-config-dir-managed"])
    assert runs["litellm-ownership-confirm-ledger-confirmed"] == max(runs.values()), runs
    owned = json.loads(pathlib.Path("/var/lib/litellm-formula/litellm.owned").read_text())["owned"]
    assert {(e["kind"], e["name"], e["how"]) for e in owned} == {
        ("user", "litellm", "created"), ("group", "litellm", "created"), ("unit", str(UNIT), "created"),
        ("unit", f"/etc/systemd/system/{SERVICE}.socket", "created"), ("dir", str(VENV.parent), "created"),
        ("dir", str(CONFIG.parent), "adopted"),
        ("dir", "/var/lib/litellm", "created")}
    assert host.run("systemctl", "is-active", SERVICE).stdout.strip() == "active"
    assert host.run("systemctl", "is-enabled", SERVICE).stdout.strip() == "enabled"
    assert host.prop("User") == "litellm"
    assert host.prop("ExecStart").count(f"--port {port}") == 1
    # The default server: gunicorn with one worker per core (chosen by `make bench`).
    assert f"--run_gunicorn --num_workers {os.cpu_count()} " in host.prop("ExecStart")
    wait_for_port(port)
    assert _process_count(host, 1 + os.cpu_count()) == 1 + os.cpu_count()


def _workers_not_booted(host, workers, timeout=20):
    """Worker PIDs that have not logged uvicorn's "Application startup complete" within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = [pid for pid in workers if "Application startup complete" not in
                   host.run("journalctl", "--no-pager", "-o", "cat", f"_PID={pid}").stdout]
        if not waiting or time.monotonic() > deadline:
            return waiting
        time.sleep(0.5)


def test_a_every_gunicorn_worker_boots_on_every_restart(host, port):
    # Without the formula's fork-safety .pth, a quarter of LiteLLM's gunicorn starts left one worker
    # hung at boot (docs/performance.md, "Gunicorn worker boot race"). The mechanism is checked
    # deterministically (the service's interpreter has encodings.ascii loaded before any fork: it
    # fails at once without the .pth); the starts then show the effect.
    preloaded = host.run(str(VENV / "bin/python"), "-c", "import sys; print('encodings.ascii' in sys.modules)")
    assert preloaded.stdout.strip() == "True", preloaded
    for restart in range(3):
        if restart:
            assert host.run("systemctl", "restart", SERVICE).returncode == 0
        wait_for_port(port)
        assert _process_count(host, 1 + os.cpu_count()) == 1 + os.cpu_count()
        workers = [pid for pid in unit_pids(f"{SERVICE}.service") if pid != host.main_pid()]
        assert _workers_not_booted(host, workers) == [], f"start {restart + 1}: hung workers"


def test_b_models_listed_with_key_and_refused_without(port):
    status, _, body = http("GET", f"http://127.0.0.1:{port}/v1/models", headers=auth())
    assert status == 200
    assert [m["id"] for m in json.loads(body)["data"]] == [MODEL]
    assert http("GET", f"http://127.0.0.1:{port}/v1/models")[0] == 401
    # Without a database LiteLLM answers 400 for a wrong key; either way it is refused.
    assert http("GET", f"http://127.0.0.1:{port}/v1/models", headers=auth("sk-wrong-key-000000000"))[0] in (400, 401)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
def test_c_chat_completions_reach_both_backends(port, fleet, stream):
    bases, answered_by = set(), set()
    for _ in range(24):
        status, headers, text = chat(port, stream=stream)
        assert status == 200, text
        assert text.startswith("Hello from "), text
        answered_by.add(text.split()[2].rstrip(":"))
        bases.add(headers.get("x-litellm-model-api-base"))
    assert answered_by == {"a", "b"}
    assert bases == {s.url for s in fleet.members[:2]}


def test_d_second_apply_changes_nothing_and_keeps_the_process(salt_cli, salt_minion, host, record_figure):
    pid = host.main_pid()
    start = time.monotonic()
    ret = apply(salt_cli, salt_minion, "litellm")
    record_figure("no-op re-apply", f"{time.monotonic() - start:.1f}s")
    assert ret.returncode == 0, failed(ret)
    assert changed(ret) == {}
    assert host.main_pid() == pid


def test_unit_exposure_is_at_most_1_0(host, record_figure):
    out = host.run("systemd-analyze", "security", "--no-pager", f"{SERVICE}.service").stdout
    line = next(line for line in out.splitlines() if "Overall exposure level" in line)
    exposure = float(line.split(":")[1].split()[0])
    record_figure("systemd-analyze security exposure (defaults)", exposure)
    assert exposure <= 1.0, line


def test_h_master_key_stays_secret(salt_master, salt_minion, host):
    assert RETURNS, "the applies above must have run"
    for ret in RETURNS:
        assert MASTER_KEY not in ret
    minion_log = pathlib.Path(salt_minion.config["log_file"]).read_text(errors="replace")
    assert "litellm" in minion_log  # the log is the one that saw the applies
    assert MASTER_KEY not in minion_log
    jobs = pathlib.Path(salt_master.config["cachedir"]) / "jobs"
    job_files = [p for p in jobs.rglob("*") if p.is_file()]
    assert job_files
    for path in job_files:
        assert MASTER_KEY.encode() not in path.read_bytes(), path
    ps = host.run("ps", "-eo", "args").stdout
    assert "litellm --config" in ps
    assert MASTER_KEY not in ps
    assert MASTER_KEY not in host.run("systemctl", "show", SERVICE).stdout
    for path in (ENV_FILE, KEY_FILE):
        st = path.stat()
        assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (0, 0, "0o600"), path
    assert MASTER_KEY in KEY_FILE.read_text()  # the service does get it
    assert MASTER_KEY not in CONFIG.read_text()


def test_g_one_backend_refusing_connections_costs_no_request(port, fleet, record_figure):
    b = fleet.members[1]
    b.stop()
    try:
        failures, first_failure_at, start = 0, None, time.monotonic()
        for i in range(100):
            status, _, text = chat(port)
            if status != 200 or not text.startswith("Hello from a"):
                failures += 1
                first_failure_at = first_failure_at or (i, round(time.monotonic() - start, 2))
        record_figure("failover, 1 of 2 backends refusing", f"{failures}/100 sequential requests failed "
                      f"(first failure at {first_failure_at}) in {time.monotonic() - start:.1f}s")
        assert failures == 0
    finally:
        b.start()


def _process_count(host, expected, timeout=15):
    # Workers may still be forking when the first of them answers.
    deadline = time.monotonic() + timeout
    while len(unit_pids(f"{SERVICE}.service")) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    return len(unit_pids(f"{SERVICE}.service"))


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_e_test_mode_predicts_changes_and_changes_nothing(salt_cli, salt_minion, pillar, deployed_pillar, fleet,
                                                          host, port):
    c = fleet.start("c", models=("phi3:3.8b-mini-128k-instruct-q8_0", "llama3.2:1b"))
    new = base_pillar(
        [s.url for s in fleet.members],
        free_port(),
        models=deployed_pillar["models"] + [{"name": "llama3.2-1b", "model": "llama3.2:1b", "backends": [c.url]}],
    )
    pillar.set(new)
    before = {p: _sha(p) for p in (CONFIG, ENV_FILE, KEY_FILE, UNIT)}
    pid = host.main_pid()
    ret = apply(salt_cli, salt_minion, "litellm", test=True)
    assert ret.returncode == 0, failed(ret)
    predicted = {str(r["name"]) for r in states(ret).values() if r["result"] is None}
    assert {str(CONFIG), str(UNIT), SERVICE} <= predicted
    assert str(KEY_FILE) not in predicted
    # test_f checks these against what the real run changes, one for one.
    test_e_test_mode_predicts_changes_and_changes_nothing.predicted_ids = {
        r["__id__"] for r in states(ret).values() if r["result"] is None or r["changes"]}
    assert {p: _sha(p) for p in before} == before
    assert host.main_pid() == pid
    assert http("GET", f"http://127.0.0.1:{port}/health/liveliness")[0] == 200
    test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar = new


def test_f_pillar_change_applies_with_one_restart(salt_cli, salt_minion, host, port, fleet):
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    pid = host.main_pid()
    time.sleep(1.1)  # the journal's --since has one-second resolution
    since = host.now()
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode == 0, failed(ret)
    assert set(changed(ret)) == test_e_test_mode_predicts_changes_and_changes_nothing.predicted_ids
    assert host.main_pid() not in (0, pid)
    assert host.starts_since(since) == 1  # a new port: socket bound again, the service started once
    new_port = new["bind_port"]
    status, _, body = http("GET", f"http://127.0.0.1:{new_port}/v1/models", headers=auth())
    assert status == 200
    assert sorted(m["id"] for m in json.loads(body)["data"]) == ["llama3.2-1b", MODEL]
    status, _, text = chat(new_port, model="llama3.2-1b")
    assert status == 200 and text.startswith("Hello from c"), text
    seen = {chat(new_port)[2].split()[2].rstrip(":") for _ in range(30)}
    assert seen == {"a", "b", "c"}
    with pytest.raises(OSError):
        wait_for_port(port, timeout=1)
    # And the changed deployment is again a fixed point.
    again = apply(salt_cli, salt_minion, "litellm")
    assert changed(again) == {}


@pytest.mark.parametrize(("server", "workers", "flag", "processes"), [
    ("uvicorn", 1, "--num_workers 1 ", 1),
    ("granian", 2, "--run_granian --num_workers 2 ", 3),  # main process and two workers
    ("gunicorn", "auto", f"--run_gunicorn --num_workers {os.cpu_count()} ", 1 + os.cpu_count()),
])
def test_server_and_workers_switch_with_one_restart(salt_cli, salt_minion, pillar, host, server, workers, flag,
                                                    processes):
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    pid = host.main_pid()
    time.sleep(1.1)
    since = host.now()
    pillar.set({**new, "server": server, "num_workers": workers})
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode == 0, failed(ret)
    assert host.starts_since(since) == 1
    assert host.main_pid() not in (0, pid)
    assert flag in host.prop("ExecStart")
    assert _process_count(host, processes) == processes
    for stream in (False, True):
        status, _, text = chat(new["bind_port"], stream=stream)
        assert status == 200 and text.startswith("Hello from "), text
    assert changed(apply(salt_cli, salt_minion, "litellm")) == {}


@pytest.mark.parametrize(("extra", "said"), [
    ({"router_settings": {"routing_strategy": "no-such-strategy"}}, "LiteLLM rejects this config"),
    # Not the Router's: the proxy's own startup refuses it (an unknown callback module).
    ({"litellm_settings": {"callbacks": ["no_such_module.handler"]}}, "litellm_settings.callbacks:"),
], ids=["router", "litellm_settings"])
def test_a_config_litellm_rejects_never_replaces_the_live_one(salt_cli, salt_minion, pillar, host, extra, said):
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    before, pid = _sha(CONFIG), host.main_pid()
    # Passes the pillar schema (extra_config is free-form), but LiteLLM refuses it.
    pillar.set({**new, "extra_config": extra})
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode != 0
    comment = failed(ret)["litellm-config-file-config-managed"]
    assert "check_cmd execution failed" in comment and said in comment, comment
    assert _sha(CONFIG) == before
    assert host.main_pid() == pid
    assert http("GET", f"http://127.0.0.1:{new['bind_port']}/v1/models", headers=auth())[0] == 200
    pillar.set(new)


def _previous_release():
    text = (REPO / "requirements-litellm.txt").read_text()
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# previous:"))


def test_version_change_downgrades_and_upgrades_with_one_restart_each(salt_cli, salt_master, salt_minion, pillar,
                                                                      host):
    # Both installs go through a package index that wants a password (test/wheel_index.py), given in
    # pillar as pip:index_url: the password must reach pip, and nothing else.
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    default = _settings_defaults()["version"]
    password = "pipS3cret" + secrets.token_hex(8)
    seen = []
    with WheelIndex(WHEELS, "pipuser", password) as index:
        url = index.url.replace("http://", f"http://pipuser:{password}@")
        first = os.readlink(VENV)
        for version, pip_runs in ((_previous_release(), True), (default, False)):
            pid = host.main_pid()
            time.sleep(1.1)
            since = host.now()
            pillar.set({**new, "version": version, "pip": {"index_url": url}})
            with _sampling_ps(expect_pip=pip_runs) as ps:
                ret = apply(salt_cli, salt_minion, "litellm")
            seen.append(json.dumps(ret.data) + ret.stdout + ret.stderr + "\n".join(ps))
            assert ret.returncode == 0, failed(ret)
            installed = host.run(str(VENV / "bin/python"), "-c",
                                 "import importlib.metadata as m; print(m.version('litellm'))").stdout.strip()
            assert installed == version
            assert host.starts_since(since) == 1
            assert host.main_pid() not in (0, pid)
            assert http("GET", f"http://127.0.0.1:{new['bind_port']}/v1/models", headers=auth())[0] == 200
            # Side by side: each pinned set in its own virtualenv; `current` moved, `previous` kept.
            assert os.readlink(VENV).startswith(f"/opt/litellm/venvs/{version}-")
            if pip_runs:
                assert os.readlink(VENV.parent / "previous") == first
                assert any("--require-hashes" in line for line in ps), "pip ran without --require-hashes"
        # Back on the default: the very virtualenv the first apply built (no second install).
        assert os.readlink(VENV) == first
        assert os.readlink(VENV.parent / "previous").startswith(f"/opt/litellm/venvs/{_previous_release()}-")
    assert index.authorized > 0 and index.refused == 0, "pip did not use the pillar's index credentials"
    pip_conf = VENV.parent / "pip.conf"
    assert password in pip_conf.read_text() and oct(pip_conf.stat().st_mode & 0o777) == "0o600"
    logs = "".join(pathlib.Path(d.config["log_file"]).read_text(errors="replace") for d in (salt_minion, salt_master))
    jobs = b"".join(p.read_bytes() for p in (pathlib.Path(salt_master.config["cachedir"]) / "jobs").rglob("*")
                    if p.is_file())
    for where, text in (("returns and ps", "".join(seen)), ("daemon logs", logs), ("journal", host.run(
            "journalctl", "--no-pager", "-o", "verbose").stdout)):
        assert password not in text, f"the pip index password leaked into the {where}"
    assert password.encode() not in jobs, "the pip index password leaked into the job cache"
    pillar.set(new)


def _lock_with(line_of, replacement, path):
    """The shipped lock of the default version with one distribution's line replaced, at ``path``."""
    lock = REPO / f"litellm/files/default/locks/litellm-{_settings_defaults()['version']}.txt"
    lines = [replacement if line.startswith(line_of + "==") else line for line in lock.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_release_that_cannot_serve_is_refused_at_its_trial_start(salt_cli, salt_minion, pillar, host, tmp_path):
    # uvicorn 0.19.0 predates timeout_graceful_shutdown: LiteLLM 1.108.7 builds, passes the config
    # check, and then no worker boots. The trial start beside the live proxy finds it: nothing is
    # switched, the live proxy is never restarted.
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    wheel = WHEELS / "uvicorn-0.19.0-py3-none-any.whl"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    current, pid = os.readlink(VENV), host.main_pid()
    pillar.set({**new, "lock_file": _lock_with("uvicorn", f"uvicorn==0.19.0 --hash=sha256:{digest}",
                                               tmp_path / "bad.txt")})
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode != 0
    comment = failed(ret)["litellm-service-switch-venv-switched"]
    assert "did not serve in a trial start beside the live proxy (nothing switched)" in comment, comment
    assert "timeout_graceful_shutdown" in comment, comment
    assert os.readlink(VENV) == current and host.main_pid() == pid
    assert http("GET", f"http://127.0.0.1:{new['bind_port']}/v1/models", headers=auth())[0] == 200
    pillar.set(new)


def test_a_release_that_fails_its_health_gate_after_the_switch_is_rolled_back(salt_cli, salt_minion, pillar, host):
    # What only the real unit shows (here: a drop-in refusing to start on the previous release's
    # virtualenv) fails the health gate after the switch: the apply points `current` back, restarts,
    # and fails saying so; the proxy serves the release it ran before.
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    previous = _previous_release()
    current = os.readlink(VENV)
    refuse = f"[Service]\nExecStartPre=/bin/sh -c '! readlink {VENV} | grep -q /{previous}-'\n"
    with service_dropin("zz-test-refuse-previous", refuse):
        pillar.set({**new, "version": previous, "startup_timeout": 20})
        ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode != 0
    comment = failed(ret)["litellm-service-running-venv-rolled-back"]
    assert f"rolled back to {current}" in comment, comment
    assert os.readlink(VENV) == current
    assert host.prop("ActiveState") == "active"
    assert http("GET", f"http://127.0.0.1:{new['bind_port']}/v1/models", headers=auth())[0] == 200
    pillar.set(new)
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode == 0, failed(ret)


def test_a_wheel_whose_hash_is_not_in_the_lock_is_refused_and_named(salt_cli, salt_minion, pillar, host, tmp_path):
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    current, pid = os.readlink(VENV), host.main_pid()
    pillar.set({**new, "lock_file": _lock_with("httptools", "httptools==0.9.0 --hash=sha256:" + "0" * 64,
                                               tmp_path / "tampered.txt")})
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode != 0
    comment = failed(ret)["litellm-package-install-venv-built"]
    assert "hash not in the lock" in comment and "httptools==0.9.0" in comment, comment
    assert os.readlink(VENV) == current and host.main_pid() == pid
    assert not [p for p in (VENV.parent / "venvs").iterdir() if not (p / ".litellm-formula-lock").exists()]
    pillar.set(new)


@contextlib.contextmanager
def _sampling_ps(interval=0.1, expect_pip=True):
    """Every process's command line, sampled while the block runs (pip's included)."""
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            samples.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()
    caught = [line for sample in samples for line in sample.splitlines() if "pip" in line and " install " in line]
    assert bool(caught) == expect_pip, caught or "no sample caught pip installing"


def _settings_defaults():
    return yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]


def test_a_port_in_use_fails_the_apply_naming_it_and_converges_once_free(salt_cli, salt_minion, pillar, host):
    new = test_e_test_mode_predicts_changes_and_changes_nothing.new_pillar
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        busy_port = taken.getsockname()[1]
        pillar.set({**new, "bind_port": busy_port, "startup_timeout": 15})
        start = time.monotonic()
        ret = apply(salt_cli, salt_minion, "litellm")
        took = time.monotonic() - start
        assert ret.returncode != 0
        # systemd binds the port (litellm.socket): the socket state fails with systemd's reason.
        comment = failed(ret)["litellm-service-running-socket-bound"]
        assert "could not listen" in comment and "address already in use" in comment.lower(), comment
        assert took < 60
    finally:
        taken.close()
    # Once the port is free again, the same pillar converges: the proxy serves on it.
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode == 0, failed(ret)
    assert http("GET", f"http://127.0.0.1:{busy_port}/health/liveliness")[0] == 200
    assert host.prop("ActiveState") == "active"


def test_i_clean_removes_what_the_ledger_lists_and_nothing_else(salt_cli, salt_minion, pillar, deployed_pillar, host):
    # Pillar names a directory the formula never created: clean leaves it, says so, and fails; what
    # the ledger lists (the earlier install_dir included) goes.
    handmade = pathlib.Path("/opt/litellm-handmade")
    handmade.mkdir()
    (handmade / "data").write_text("not the formula's\n")
    ledger = pathlib.Path("/var/lib/litellm-formula/litellm.owned")
    try:
        pillar.set({**deployed_pillar, "install_dir": str(handmade)})
        ret = apply(salt_cli, salt_minion, "litellm.clean")
        assert ret.returncode != 0
        assert "litellm:install_dir: the directory /opt/litellm-handmade left in place" in \
            failed(ret)["litellm-ownership-clean-unowned-left-in-place"]
        assert (handmade / "data").read_text() == "not the formula's\n"
    finally:
        subprocess.run(["rm", "-rf", str(handmade)], check=True)
    assert not UNIT.exists() and not CONFIG.parent.exists() and not VENV.parent.exists()
    assert not pathlib.Path("/var/lib/litellm").exists()
    assert not pathlib.Path("/var/lib/litellm-formula/litellm.json").exists()  # the deployment record
    assert host.run("systemctl", "is-active", SERVICE).stdout.strip() in ("inactive", "unknown")
    assert "litellm --config" not in host.run("ps", "-eo", "args").stdout
    assert host.run("systemctl", "list-unit-files", f"{SERVICE}.service").stdout.count(SERVICE) == 0
    # The account stays (clean_remove_user is false), and so does the ledger entry that says it is ours.
    assert os.system("getent passwd litellm >/dev/null") == 0
    assert sorted((e["kind"], e["name"]) for e in json.loads(ledger.read_text())["owned"]) == [
        ("group", "litellm"), ("user", "litellm")]
    pillar.set({**deployed_pillar, "clean_remove_user": True})
    ret = apply(salt_cli, salt_minion, "litellm.clean")
    assert ret.returncode == 0, failed(ret)
    assert os.system("getent passwd litellm >/dev/null") != 0 and os.system("getent group litellm >/dev/null") != 0
    assert not pathlib.Path("/var/lib/litellm-formula").exists()  # ledger and records gone: nothing left
