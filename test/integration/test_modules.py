"""Issue 3: the `litellm` execution and state modules against a real proxy under the container's
systemd, through a real salt-minion, with Ollama API stand-ins as backends.

Runs in file order on one deployment whose key the minion generated (`master_key_source: generate`),
then switches it to an sdb:// key and to a plain pillar key.
"""

import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import SDB_DATABASE, SDB_URI, SERVICE, base_pillar, service_dropin
from helpers import StandinFleet, http, wait_for_port

from litellm_formula.keys import fingerprint

pytestmark = pytest.mark.integration

KEY_FILE = pathlib.Path("/etc/litellm/master_key.env")
TAG = "phi3:3.8b-mini-128k-instruct-q8_0"
SEEN = []  # every salt return and event of this module, for the leak checks
GUARD = pathlib.Path("/run/litellm-test")


@pytest.fixture(scope="module")
def generated_pillar(fleet, port):
    data = base_pillar([s.url for s in fleet.members[:2]], port, master_key_source="generate",
                       startup_timeout=30)
    del data["master_key"]
    return data


def live_key():
    for line in KEY_FILE.read_text().splitlines():
        if line.startswith("LITELLM_MASTER_KEY="):
            return line.split("=", 1)[1]
    raise AssertionError("no key in the key file")


def call(minion, *args, **kwargs):
    ret = minion.salt_call_cli(timeout=300).run(*args, **kwargs)
    SEEN.append(json.dumps(ret.data) + ret.stdout + ret.stderr)
    return ret


def apply(salt_cli, minion, *args, **kwargs):
    ret = salt_cli.run("state.apply", *args, minion_tgt=minion.id, **kwargs)
    SEEN.append(json.dumps(ret.data))
    assert isinstance(ret.data, dict), ret.data
    return ret


def changes(ret):
    return {r["__id__"]: r["changes"] for r in ret.data.values() if r["changes"]}


def models_status(port, key):
    return http("GET", f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {key}"})[0]


def test_generate_mode_creates_a_key_once_and_keeps_it(salt_cli, salt_minion, pillar, generated_pillar, port):
    pillar.set(generated_pillar)
    ret = apply(salt_cli, salt_minion, "litellm")
    assert ret.returncode == 0, ret.data
    assert "litellm-config-environ-master-key-generated" in changes(ret)
    key = live_key()
    assert key.startswith("sk-") and len(key) >= 40
    assert models_status(port, key) == 200
    again = apply(salt_cli, salt_minion, "litellm")
    assert changes(again) == {}
    assert live_key() == key


def test_health_all_good(salt_minion, port, record_figure):
    ret = call(salt_minion, "litellm.health")
    assert ret.returncode == 0
    report = ret.data
    assert report["healthy"] is True and report["status"] == "healthy", report["summary"]
    assert report["proxy"]["models"]["served"] == ["phi3-3.8b"]
    assert all(b["up"] and b["version"] for b in report["backends"].values())
    assert report["models"]["phi3-3.8b"]["backends_up"] == 2
    record_figure("litellm.health, 2 backends all up", f"{report['duration_ms']} ms")


def test_health_deep_runs_a_completion_per_model(salt_minion):
    ret = call(salt_minion, "litellm.health", "deep=True")
    assert ret.returncode == 0, ret.data["summary"]
    assert ret.data["models"]["phi3-3.8b"]["completion"]["ok"] is True


def test_health_reads_the_deployment_with_pillar_ahead_and_the_master_stopped(salt_cli, salt_master, salt_minion,
                                                                            pillar, generated_pillar, port):
    # Pillar moves ahead of the deployment (another port, another model) and is not applied.
    ahead = {**generated_pillar, "bind_port": port + 1,
             "models": generated_pillar["models"] + [{"name": "other", "model": "qwen2.5:0.5b"}]}
    pillar.set(ahead)
    try:
        report = salt_cli.run("litellm.health", minion_tgt=salt_minion.id).data
        SEEN.append(json.dumps(report))
        assert report["healthy"] and report["status"] == "healthy", report["summary"]
        assert report["proxy"]["url"] == f"http://127.0.0.1:{port}" and list(report["models"]) == ["phi3-3.8b"]
        assert report["pillar"] == "differs" and "an apply is due" in report["summary"]
        with salt_master.stopped():
            # What a monitoring agent runs on the proxy host: no master, no file server, no pillar.
            local = call(salt_minion, "--local", "litellm.health")
            assert local.returncode == 0, local
            assert local.data["healthy"] and local.data["proxy"]["url"] == f"http://127.0.0.1:{port}"
            assert local.data["pillar"] == "unknown"
            assert call(salt_minion, "--local", "litellm.master_key_fingerprint").data == fingerprint(live_key())
            assert call(salt_minion, "--local", "litellm.version").data["pinned"]
            assert "Started" in call(salt_minion, "--local", "litellm.journal_tail", "lines=200").data
    finally:
        pillar.set(generated_pillar)
    deadline = time.monotonic() + 60  # the minion daemon reconnects to the restarted master
    while salt_cli.run("--timeout=10", "test.ping", minion_tgt=salt_minion.id).data is not True:
        assert time.monotonic() < deadline, "the minion did not reconnect to the restarted master"
        time.sleep(1)
    assert salt_cli.run("litellm.health", minion_tgt=salt_minion.id).data["pillar"] == "matches"


def test_health_one_backend_refusing_is_degraded_and_named(salt_minion, fleet):
    b = fleet.members[1]
    b.stop()
    try:
        ret = call(salt_minion, "litellm.health")
        report = ret.data
        assert report["status"] == "degraded", report["summary"]
        assert ret.returncode == 0  # the gateway still serves every model
        assert report["backends"][b.url]["up"] is False
        assert f"backend {b.url} down" in report["summary"]
        assert report["models"]["phi3-3.8b"]["backends_up"] == 1
        assert report["models"]["phi3-3.8b"]["backends_total"] == 2
        assert report["proxy"]["models"]["served"] == ["phi3-3.8b"]
        strict = call(salt_minion, "litellm.health", "strict=True")
        assert strict.returncode != 0
    finally:
        b.start()


def test_health_names_a_model_missing_on_one_backend(salt_minion, fleet):
    b = fleet.members[1]
    b.knobs(models=["llama3.2:1b"])
    try:
        report = call(salt_minion, "litellm.health").data
        assert report["status"] == "degraded"
        assert report["backends"][b.url]["missing"] == [TAG]
        assert report["models"]["phi3-3.8b"]["backends"][b.url] == "model missing"
        assert f"backend {b.url} lacks model {TAG}" in report["summary"]
    finally:
        b.knobs(models=[TAG])


def _health_through_the_master(salt_master, salt_minion):
    """`salt <minion> litellm.health` as an operator types it: the salt CLI, its exit code, its JSON."""
    salt = pathlib.Path(sys.executable).parent / "salt"
    done = subprocess.run([str(salt), "-c", str(salt_master.config_dir), salt_minion.id,
                           "litellm.health", "--out=json", "--timeout=60"], capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads(done.stdout)[salt_minion.id]


def test_health_proxy_stopped_is_unhealthy_with_nonzero_exit(salt_master, salt_minion, port):
    code, verdict = _health_through_the_master(salt_master, salt_minion)
    assert (code, verdict["healthy"], verdict["status"]) == (0, True, "healthy"), verdict
    # The socket too: with it listening, the first connection would start the service again.
    subprocess.run(["systemctl", "stop", f"{SERVICE}.socket", f"{SERVICE}.service"], check=True)
    try:
        ret = call(salt_minion, "litellm.health")
        assert ret.returncode != 0
        assert ret.data["healthy"] is False and ret.data["status"] == "unhealthy"
        assert "does not answer" in ret.data["summary"]
        # Through the master too: the minion's verdict comes back, and the salt CLI exits non-zero.
        code, verdict = _health_through_the_master(salt_master, salt_minion)
        assert code != 0 and verdict["healthy"] is False and "does not answer" in verdict["summary"], (code, verdict)
    finally:
        subprocess.run(["systemctl", "start", f"{SERVICE}.socket", f"{SERVICE}.service"], check=True)
        wait_for_port(port, timeout=60)


def test_health_reports_a_wrong_key_as_an_auth_failure(salt_minion, port):
    original = KEY_FILE.read_text()
    # The proxy keeps the key it started with; the file now disagrees, as after a botched edit.
    KEY_FILE.write_text(original.replace(live_key(), "sk-wrong-" + "0" * 32))
    try:
        for _ in range(20):
            if http("GET", f"http://127.0.0.1:{port}/health/liveliness")[0] == 200:
                break
            time.sleep(0.5)
        ret = call(salt_minion, "litellm.health")
        assert ret.returncode != 0
        assert "rejects the master key" in ret.data["summary"]
        assert ret.data["proxy"]["models"]["auth"] == "rejected"
    finally:
        KEY_FILE.write_text(original)


# The baseline (every backend up) is test_health_all_good's figure, on the module's deployment.
@pytest.mark.parametrize(("total", "hanging"), [(32, 8)])
def test_health_fan_out_costs_one_timeout(salt_cli, salt_minion, pillar, generated_pillar, total, hanging,
                                          record_figure):
    fleet = StandinFleet()
    try:
        # The hanging ones last: the proxy asks the first backend for /api/show at startup.
        members = [fleet.start(f"f{i}", extra_args=["--hang"] if i >= total - hanging else [])
                   for i in range(total)]
        pillar.set({**generated_pillar, "backends": [m.url for m in members]})
        assert apply(salt_cli, salt_minion, "litellm").returncode == 0
        timeout = 3
        start = time.monotonic()
        ret = call(salt_minion, "litellm.health", f"timeout={timeout}")
        wall = time.monotonic() - start
        report = ret.data
        down = sorted(url for url, b in report["backends"].items() if not b["up"])
        assert down == sorted(m.url for m in members[total - hanging:])
        assert all(report["backends"][url]["error"] == "timed out" for url in down)
        assert report["duration_ms"] <= (timeout + 1) * 1000
        record_figure(f"litellm.health fan-out, {total} backends ({hanging} never answering, timeout {timeout}s)",
                      f"{report['duration_ms'] / 1000:.2f}s in the function, {wall:.2f}s salt-call wall time")
    finally:
        fleet.stop_all()
        pillar.set(generated_pillar)
    assert apply(salt_cli, salt_minion, "litellm").returncode == 0


def test_rotation_swaps_the_key_and_tells_only_the_fingerprint(salt_master, salt_minion, port, event_listener,
                                                               record_figure):
    old_key = live_key()
    old_fp = call(salt_minion, "litellm.master_key_fingerprint").data
    started = time.time()
    t0 = time.monotonic()
    ret = call(salt_minion, "litellm.rotate_master_key")
    wall = time.monotonic() - t0
    assert ret.returncode == 0, ret.data
    result = ret.data
    assert result["rotated"] is True and result["rolled_back"] is False
    new_key = live_key()
    assert new_key != old_key
    assert result["previous_fingerprint"] == old_fp != result["fingerprint"]
    assert call(salt_minion, "litellm.master_key_fingerprint").data == result["fingerprint"]
    assert models_status(port, new_key) == 200
    assert models_status(port, old_key) in (400, 401)
    st = KEY_FILE.stat()
    assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (0, 0, "0o600")
    events = event_listener.wait_for_events([(salt_master.id, "salt/litellm/master_key/rotated")],
                                            after_time=started, timeout=30)
    assert events.found_all_events, "no salt/litellm/master_key/rotated event reached the master"
    event = next(iter(events.matches))
    payload = event.data.get("data", event.data)  # event.send wraps what the minion sent
    assert payload["fingerprint"] == result["fingerprint"], event.data
    assert set(payload) == {"service", "fingerprint", "previous_fingerprint", "rotated_at"}
    SEEN.append(json.dumps(event.data, default=str))
    record_figure("master-key rotation, call to verified", f"{result['duration_s']}s in the function, "
                  f"{wall:.1f}s salt-call wall time")
    rotation_keys.extend([old_key, new_key])


rotation_keys = []


def test_rotated_keys_appear_nowhere(salt_master, salt_minion, event_listener):
    assert rotation_keys
    all_events = json.dumps([e.data for e in event_listener.get_events([("*", "*")])], default=str)
    logs = pathlib.Path(salt_minion.config["log_file"]).read_text(errors="replace") + \
        pathlib.Path(salt_master.config["log_file"]).read_text(errors="replace")
    journal = subprocess.run(["journalctl", "--no-pager", "-o", "cat"], capture_output=True, text=True).stdout
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    jobs = pathlib.Path(salt_master.config["cachedir"]) / "jobs"
    job_cache = b"".join(p.read_bytes() for p in jobs.rglob("*") if p.is_file())
    for key in rotation_keys:
        for where, text in (("returns", "".join(SEEN)), ("events", all_events), ("logs", logs),
                            ("journal", journal), ("ps", ps)):
            assert key not in text, f"a master key leaked into {where}"
        assert key.encode() not in job_cache, "a master key leaked into the job cache"


@pytest.fixture
def fail_new_keys():
    """Make the proxy refuse to start with any key other than the current one (systemd drop-in whose
    privileged ExecStartPre compares the key file with a snapshot)."""
    GUARD.mkdir(exist_ok=True)
    (GUARD / "known.env").write_bytes(KEY_FILE.read_bytes())
    try:
        with service_dropin("zz-test-fail-new-key",
                            f"[Service]\nExecStartPre=+/usr/bin/cmp -s {KEY_FILE} {GUARD / 'known.env'}\n"):
            yield
    finally:
        subprocess.run(["systemctl", "reset-failed", SERVICE], check=False)


def test_failed_rotation_rolls_back_to_the_old_key(salt_minion, port, fail_new_keys):
    old_key = live_key()
    old_fp = call(salt_minion, "litellm.master_key_fingerprint").data
    ret = call(salt_minion, "litellm.rotate_master_key")
    assert ret.returncode != 0
    result = ret.data
    assert result["rolled_back"] is True and result["rotated"] is False
    assert "rolled back" in result["comment"] and "accepts again" in result["comment"]
    assert live_key() == old_key
    assert result["fingerprint"] == old_fp
    assert models_status(port, old_key) == 200


@pytest.fixture
def new_key_misbehaves(request):
    """The proxy misbehaves with any key but the current one: ``never-serves`` (it starts and never
    answers: a sitecustomize that sleeps), or ``keeps-old-key`` (it starts with the old key whatever
    the key file says). Systemd drop-ins; the privileged ExecStartPre compares the key file with a
    snapshot."""
    GUARD.mkdir(exist_ok=True)
    (GUARD / "known.env").write_bytes(KEY_FILE.read_bytes())
    hang = GUARD / "hang"
    hang.mkdir(exist_ok=True)
    (hang / "sitecustomize.py").write_text("import time\ntime.sleep(3600)\n")
    if request.param == "never-serves":
        text = (f"[Service]\nEnvironmentFile=-{GUARD}/hang.env\nExecStartPre=+/bin/sh -c 'if cmp -s {KEY_FILE} "
                f"{GUARD}/known.env; then rm -f {GUARD}/hang.env; "
                f"else echo PYTHONPATH={hang} > {GUARD}/hang.env; fi'\n")
    else:
        text = f"[Service]\nEnvironmentFile={GUARD}/known.env\n"
    try:
        with service_dropin("zz-test-new-key-misbehaves", text):
            yield request.param
    finally:
        subprocess.run(["systemctl", "reset-failed", SERVICE], check=False)
        subprocess.run(["systemctl", "restart", SERVICE], check=False)


@pytest.mark.parametrize("new_key_misbehaves", ["never-serves", "keeps-old-key"], indirect=True)
def test_rotation_rolls_back_when_the_proxy_misbehaves_with_the_new_key(salt_minion, port, new_key_misbehaves):
    old_key, old_fp = live_key(), call(salt_minion, "litellm.master_key_fingerprint").data
    ret = call(salt_minion, "litellm.rotate_master_key")
    assert ret.returncode != 0
    result = ret.data
    assert result["rolled_back"] is True and result["rotated"] is False, result
    # LiteLLM without a database answers a wrong key with 400.
    expected = "did not answer" if new_key_misbehaves == "never-serves" else "new key answered HTTP 400"
    assert expected in result["comment"] and "accepts again" in result["comment"], result["comment"]
    assert live_key() == old_key and result["fingerprint"] == old_fp
    assert models_status(port, old_key) == 200


def test_key_rotated_state_honours_max_age_and_test_mode(salt_cli, salt_minion, port):
    def state(*extra):
        ret = salt_cli.run("state.single", "litellm.master_key_rotated", "name=litellm", *extra,
                           minion_tgt=salt_minion.id)
        SEEN.append(json.dumps(ret.data))
        return next(iter(ret.data.values()))

    key = live_key()
    fresh = state("max_age=30d")
    assert fresh["result"] is True and fresh["changes"] == {}
    assert "within max_age" in fresh["comment"]
    month_ago = time.time() - 31 * 86400
    os.utime(KEY_FILE, (month_ago, month_ago))
    predicted = state("max_age=30d", "test=True")
    assert predicted["result"] is None and "Would rotate" in predicted["comment"]
    assert live_key() == key
    rotated = state("max_age=30d")
    assert rotated["result"] is True, rotated["comment"]
    assert rotated["changes"]["master_key"]["old"] != rotated["changes"]["master_key"]["new"]
    assert live_key() != key
    assert models_status(port, live_key()) == 200
    rotation_keys.append(key)


def test_version_and_models_while_deployed(salt_minion):
    version = call(salt_minion, "litellm.version").data
    assert version["pinned"] == version["installed"] == "1.108.7", version
    assert "phi3-3.8b" in call(salt_minion, "litellm.models").data


def test_sdb_key_is_rotated_in_the_store_and_kept_by_reapply(salt_cli, salt_minion, pillar, generated_pillar,
                                                             port):
    initial = "sk-sdb-" + "5e1f0c3a9b7d2e4f6a8c"
    assert call(salt_minion, "sdb.set", SDB_URI, initial).data is True
    pillar.set({**{k: v for k, v in generated_pillar.items() if k != "master_key_source"}, "master_key": SDB_URI})
    assert apply(salt_cli, salt_minion, "litellm").returncode == 0
    assert live_key() == initial
    ret = call(salt_minion, "litellm.rotate_master_key")
    assert ret.returncode == 0, ret.data
    new_key = live_key()
    assert new_key != initial
    stored = call(salt_minion, "sdb.get", SDB_URI).data
    SEEN.pop()  # that return holds the key on purpose
    assert stored == new_key
    reads = sdb_reads()
    again = apply(salt_cli, salt_minion, "litellm")
    assert changes(again) == {}
    # Validated and written from one resolution: the value checked is the value written.
    assert sdb_reads() - reads == 1
    assert live_key() == new_key
    assert models_status(port, new_key) == 200
    # A store that refuses the new key: nothing changes, the call fails and says why.
    readonly = pathlib.Path(SDB_DATABASE + ".readonly")
    readonly.touch()
    try:
        refused = call(salt_minion, "litellm.rotate_master_key")
    finally:
        readonly.unlink()
    assert refused.returncode != 0
    assert "sdb.set refused" in refused.stdout + refused.stderr + json.dumps(refused.data)
    assert live_key() == new_key and models_status(port, new_key) == 200


def sdb_reads():
    with sqlite3.connect(SDB_DATABASE) as conn:
        return conn.execute("SELECT count(*) FROM reads").fetchone()[0]


def test_a_pillar_key_is_not_rotated_and_the_message_says_how(salt_cli, salt_minion, pillar, generated_pillar):
    plain = {**{k: v for k, v in generated_pillar.items() if k != "master_key_source"},
             "master_key": "sk-plain-" + "77aa00bb11cc22dd"}
    pillar.set(plain)
    assert apply(salt_cli, salt_minion, "litellm").returncode == 0
    before = live_key()
    ret = call(salt_minion, "litellm.rotate_master_key")
    assert ret.returncode != 0
    assert "stays authoritative" in ret.stdout + ret.stderr + json.dumps(ret.data)
    assert live_key() == before
    assert apply(salt_cli, salt_minion, "litellm.clean").returncode == 0
