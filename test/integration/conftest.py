"""Integration fixtures: a real salt-master and salt-minion (pytest-salt-factories) inside the
throwaway systemd container that `make test` boots, serving this repository as the file root."""

import contextlib
import json
import os
import pathlib
import secrets
import subprocess

import pytest
import yaml
from helpers import StandinFleet, formula_file_root, free_port, wait_for_port

CACHE = pathlib.Path(os.environ.get("LITELLM_FORMULA_CACHE", "/var/cache/litellm-formula"))
WHEELS = CACHE / "wheels"
# Random per run: a key written in the source would be found by the leak checks in source and .pyc files.
MASTER_KEY = "sk-itest-" + secrets.token_hex(12)
SERVICE = "litellm"


MARKER = pathlib.Path("/etc/litellm-formula-test-container")


def in_test_container():
    """True only inside the throwaway container scripts/container.sh boots: its marker file exists
    and holds the token the script hands to the commands it runs there. A host whose PID 1 is
    systemd is not enough: these tests deploy, break and remove the formula on the machine."""
    token = os.environ.get("LITELLM_FORMULA_CONTAINER_TOKEN", "")
    try:
        marked = MARKER.read_text().strip()
        comm = pathlib.Path("/proc/1/comm").read_text().strip()
    except OSError:
        return False
    return bool(token) and marked == token and comm == "systemd"


def pytest_collection_modifyitems(config, items):
    if in_test_container():
        return
    reason = ("runs only inside the throwaway systemd container `make test` boots (marker "
              f"{MARKER} and its token): it deploys and removes the formula on the machine it runs on")
    if os.environ.get("LITELLM_FORMULA_IN_CONTAINER"):
        raise pytest.UsageError(f"LITELLM_FORMULA_IN_CONTAINER is set but this is not the test container: {reason}")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def pillar_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pillar")
    (path / "top.sls").write_text(yaml.safe_dump({"base": {"*": ["litellm"]}}))
    return path


@pytest.fixture(scope="session")
def file_root(tmp_path_factory):
    """The master's file root: the repository as an operator serves it (`litellm`, `_modules`, ...), and
    the same formula nested under another name (`formulas/llmproxy`), which test_busy_backends applies."""
    return formula_file_root(tmp_path_factory.mktemp("file-root"))


@pytest.fixture(scope="session")
def salt_master(salt_factories, pillar_dir, file_root):
    overrides = {
        # The most verbose level Salt has: the secrets tests read these logs.
        "log_level_logfile": "all",
        "file_roots": {"base": [str(file_root)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
        "worker_threads": 2,
        "timeout": 60,
    }
    factory = salt_factories.salt_master_daemon("master", overrides=overrides, max_start_attempts=1)
    with factory.started():
        yield factory


SDB_DATABASE = "/var/lib/litellm-test/sdb.sqlite"
SDB_URI = "sdb://litellm_sdb/master_key"


@pytest.fixture(scope="session")
def salt_minion(salt_master):
    overrides = {
        "log_level_logfile": "all",
        # A writable sdb store for the sdb:// key-source tests (see sdb/test_sqlite.py).
        "sdb_dirs": [str(pathlib.Path(__file__).parent / "sdb")],
        "litellm_sdb": {"driver": "test_sqlite", "database": SDB_DATABASE},
    }
    factory = salt_master.salt_minion_daemon("minion", overrides=overrides, max_start_attempts=1)
    with factory.started():
        # The formula's modules reach the minion the way an operator's do.
        ret = factory.salt_call_cli().run("saltutil.sync_all")
        assert ret.returncode == 0, ret
        yield factory


@pytest.fixture(scope="session")
def salt_cli(salt_master):
    return salt_master.salt_cli(timeout=900)


@pytest.fixture(scope="module")
def fleet():
    """Two Ollama API stand-ins, `a` and `b`, for one test module."""
    fleet = StandinFleet()
    fleet.start("a")
    fleet.start("b")
    try:
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture(scope="module")
def port():
    """The proxy's port for one test module."""
    return free_port()


class Pillar:
    """Writes the `litellm` pillar on the master and refreshes it on the minion."""

    def __init__(self, pillar_dir, minion):
        self.path = pillar_dir / "litellm.sls"
        self.minion = minion

    def set(self, data):
        # Plain YAML, no Jinja: at Salt's most verbose log levels the text a Jinja render produces is
        # logged, pillar secrets included (docs/secrets.md).
        # It holds a live key: root only, like a real pillar file.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("#!yaml\n" + yaml.safe_dump({"litellm": data}, sort_keys=False))
        ret = self.minion.salt_call_cli().run("saltutil.refresh_pillar", wait=True)
        assert ret.returncode == 0, ret


@pytest.fixture(scope="session")
def pillar(pillar_dir, salt_minion):
    return Pillar(pillar_dir, salt_minion)


def base_pillar(backends, port, models=None, **extra):
    """The tests' pillar: loopback only, installs from the local wheel cache (air-gapped path)."""
    data = {
        "master_key": MASTER_KEY,
        "bind_host": "127.0.0.1",
        "bind_port": port,
        "backends": list(backends),
        "models": models or [{"name": "phi3-3.8b", "provider": "ollama", "model": "phi3:3.8b-mini-128k-instruct-q8_0"}],
        "pip": {"find_links": [str(WHEELS)], "no_index": True},
        "health_check": {"interval": 2},
    }
    data.update(extra)
    return data


@contextlib.contextmanager
def deployment(salt_cli, minion, pillar, data, port, seen=None):
    """A test module's deployment of ``data``; cleaned afterwards, so the next module starts from a
    clean host, as this one did. Each apply's output goes to ``seen`` (the leak checks read it)."""
    pillar.set(data)
    ret = salt_cli.run("state.apply", "litellm", minion_tgt=minion.id)
    if seen is not None:
        seen.append(json.dumps(ret.data) + ret.stdout + ret.stderr)
    assert ret.returncode == 0, ret.data
    wait_for_port(port)
    yield data
    pillar.set(data)
    assert salt_cli.run("state.apply", "litellm.clean", minion_tgt=minion.id).returncode == 0


class Host:
    """Read-only looks at the container's systemd and files."""

    @staticmethod
    def run(*args):
        return subprocess.run(list(args), capture_output=True, text=True, check=False)

    def prop(self, name, unit=SERVICE):
        return self.run("systemctl", "show", "-p", name, "--value", f"{unit}.service").stdout.strip()

    def main_pid(self, unit=SERVICE):
        return int(self.prop("MainPID", unit) or 0)

    def starts_since(self, cursor_time, unit=SERVICE):
        """How many times systemd started the unit since ``cursor_time`` (a journalctl --since value)."""
        out = self.run("journalctl", "--no-pager", "-o", "cat", "_PID=1", f"UNIT={unit}.service",
                       "--since", cursor_time).stdout
        return sum(1 for line in out.splitlines() if line.startswith("Started "))

    def now(self):
        return self.run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()


@contextlib.contextmanager
def service_dropin(name, text, unit=SERVICE):
    """A systemd drop-in for the unit, loaded for the ``with`` block and removed after it."""
    path = pathlib.Path(f"/etc/systemd/system/{unit}.service.d/{name}.conf")
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    try:
        yield path
    finally:
        path.unlink()
        subprocess.run(["systemctl", "daemon-reload"], check=True)


@pytest.fixture(scope="session")
def host():
    return Host()
