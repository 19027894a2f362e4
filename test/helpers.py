"""Helpers for tests: free ports, the Ollama stand-in as a process, small HTTP calls, imports."""

import importlib.util
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parent.parent
STANDIN = REPO / "test" / "ollama_standin.py"
DEFAULT_MODEL_TAG = "phi3:3.8b-mini-128k-instruct-q8_0"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def unit_pids(unit):
    """PIDs in a systemd unit's cgroup (a service's main process and its workers); [] when it has none."""
    group = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", unit],
                           capture_output=True, text=True, check=False).stdout.strip().lstrip("/")
    for hierarchy in ("systemd", "unified"):  # cgroup v1 hybrid in the container, v2 elsewhere
        procs = pathlib.Path("/sys/fs/cgroup", hierarchy, group, "cgroup.procs")
        if group and procs.exists():
            return [int(pid) for pid in procs.read_text().split()]
    return []


def load_module(relpath, name):
    """Import one of the formula's Salt modules as a plain Python module (for unit tests)."""
    spec = importlib.util.spec_from_file_location(name, REPO / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def formula_file_root(path):
    """Fill ``path`` as a file root serving this repository as an operator does (`litellm`,
    `_modules`, `_states`, `_utils`), plus the same formula nested under another name
    (`formulas/llmproxy`). Returns ``path``."""
    for entry in ("litellm", "_modules", "_states", "_utils"):
        (path / entry).symlink_to(REPO / entry)
    (path / "formulas").mkdir()
    (path / "formulas" / "llmproxy").symlink_to(REPO / "litellm")
    return path


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, host="127.0.0.1", timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def http(method, url, body=None, headers=None, timeout=30.0):
    """Returns (status, headers, body bytes); HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Standin:
    """One stand-in process on a fixed port, so it can be stopped (connections refused) and restarted."""

    def __init__(self, name, port=None, models=(DEFAULT_MODEL_TAG,), extra_args=()):
        self.name = name
        self.port = port or free_port()
        self.models = list(models)
        self.extra_args = list(extra_args)
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, str(STANDIN), "--port", str(self.port), "--name", self.name,
             "--models", ",".join(self.models), *self.extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a SIGSTOPped stand-in (hung backend) cannot exit
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def knobs(self, **changes):
        status, _, body = http("POST", f"{self.url}/_standin", changes)
        assert status == 200, body
        return json.loads(body)

    def state(self):
        """Knobs and counters (requests, generations, rejected_busy, loads, evictions, loaded, ...)."""
        return json.loads(http("GET", f"{self.url}/_standin")[2])

    def requests_seen(self):
        return self.state()["requests"]


class StandinFleet:
    def __init__(self):
        self.members = []

    def start(self, name, **kwargs):
        standin = Standin(name, **kwargs).start()
        self.members.append(standin)
        return standin

    def stop_all(self):
        for standin in self.members:
            standin.stop()


def make_cert_pair(directory, name):
    """A real self-signed certificate for 127.0.0.1 (an IP SAN: a verifying client checks the name) and
    its key, made by openssl, as files in ``directory``."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN=litellm-test-{name}", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    return cert, key
