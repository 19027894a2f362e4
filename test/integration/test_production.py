"""Issue 16: the production checklist on a real deployment. HTTPS verified by a client, a renewed
certificate picked up with one restart, Prometheus metrics scraped by a real Prometheus server
(Debian's package) and summed across workers, JSON logs found by the README's journal query, and
the probes answering while the workers are saturated.

One deployment for the module (two workers, metrics, TLS from pillar text, JSON logs), the tests
in file order.
"""

import http.client
import json
import os
import pathlib
import shutil
import ssl
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import loadgen
import pytest
from conftest import MASTER_KEY, SERVICE, base_pillar, deployment
from helpers import free_port, make_cert_pair, unit_pids, wait_for_port

pytestmark = pytest.mark.integration

MODEL = "phi3-3.8b"
KEY_FILE = pathlib.Path("/etc/litellm/tls/key.pem")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SEEN = []


make_pair = make_cert_pair


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    return {name: make_pair(directory, name) for name in ("first", "renewed")}


def tls_pillar(pair):
    cert, key = pair
    return {"certificate": cert.read_text(), "key": key.read_text()}


@pytest.fixture(scope="module")
def metrics_port():
    return free_port()


@pytest.fixture(scope="module")
def good_pillar(fleet, port, pairs, metrics_port):
    return base_pillar([s.url for s in fleet.members[:2]], port, num_workers=2, log_format="json",
                       metrics={"enabled": True, "port": metrics_port}, tls=tls_pillar(pairs["first"]),
                       probes={"enabled": True, "port": free_port()})


def apply(salt_cli, minion):
    ret = salt_cli.run("state.apply", "litellm", minion_tgt=minion.id)
    SEEN.append(json.dumps(ret.data) + ret.stdout + ret.stderr)
    return ret


def changes(ret):
    return {r["__id__"]: r["changes"] for r in ret.data.values() if r["changes"]}


@pytest.fixture(scope="module")
def deployed(salt_cli, salt_minion, pillar, good_pillar, port):
    with deployment(salt_cli, salt_minion, pillar, good_pillar, port, SEEN) as data:
        yield data


def verifying(cert):
    """A client context that trusts only ``cert`` and checks the name (127.0.0.1, an IP SAN)."""
    context = ssl.create_default_context(cafile=str(cert))
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    return context


def get(port, path, context, key=MASTER_KEY, timeout=10):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=context)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_https_serves_a_verifying_client_and_the_key_stays_root_only(deployed, pairs, port, host, salt_minion,
                                                                      record_figure):
    cert, key = pairs["first"]
    status, body = get(port, "/v1/models", verifying(cert))
    assert status == 200 and MODEL in body.decode()
    # Another certificate is not trusted: the client really verifies.
    with pytest.raises(ssl.SSLCertVerificationError):
        get(port, "/v1/models", verifying(pairs["renewed"][0]))
    # Plain HTTP on the TLS port gets no answer.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/health/liveliness")
        conn.getresponse().read()
    conn.close()
    st = KEY_FILE.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
    # systemd hands the service a private copy; the key text is in no command line or public file.
    secret = key.read_text().splitlines()[5]
    for pid in unit_pids(f"{SERVICE}.service"):
        assert secret not in pathlib.Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    for public in ("/etc/systemd/system/litellm.service", "/etc/litellm/config.yaml", "/etc/litellm/litellm.env",
                   "/var/lib/litellm-formula/litellm.json"):
        assert secret not in pathlib.Path(public).read_text()
    assert not any(secret in text for text in SEEN)
    health = salt_minion.salt_call_cli(timeout=120).run("litellm.health")
    assert health.returncode == 0 and health.data["status"] == "healthy", health.data
    assert health.data["proxy"]["url"].startswith("https://")
    out = host.run("systemd-analyze", "security", "--no-pager", f"{SERVICE}.service").stdout
    line = next(line for line in out.splitlines() if "Overall exposure level" in line)
    exposure = float(line.split(":")[1].split()[0])
    record_figure("exposure with TLS, metrics and JSON logs", exposure)
    assert exposure <= 1.0


@pytest.fixture
def prometheus(tmp_path, metrics_port):
    """A real Prometheus server (Debian's package) scraping the proxy's metrics listener every second."""
    web = free_port()
    (tmp_path / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "litellm", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }))
    process = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{web}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(web, timeout=30)
        yield f"http://127.0.0.1:{web}"
    finally:
        process.terminate()
        process.wait(30)


def query(prometheus_url, expression):
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=10) as response:
        return json.loads(response.read())["data"]["result"]


def scraped(prometheus_url, expression, want, timeout=40):
    """The value of ``expression`` once it reaches ``want`` (or the last one seen)."""
    deadline, value = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        result = query(prometheus_url, expression)
        value = float(result[0]["value"][1]) if result else None
        if value == want:
            break
        time.sleep(1)
    return value


def test_prometheus_counts_every_request_across_workers(deployed, pairs, port, prometheus, record_figure):
    summary = loadgen.run(port, MASTER_KEY, MODEL, clients=6, seconds=600, tls=verifying(pairs["first"][0]),
                          limit=60)
    assert summary.sent == 60 and not summary.failed, summary.line()
    up = scraped(prometheus, 'up{job="litellm"}', 1.0)
    assert up == 1.0, "Prometheus could not scrape the metrics listener"
    total = scraped(prometheus, "sum(litellm_proxy_total_requests_metric_total)", 60.0)
    successes = scraped(prometheus, "sum(litellm_deployment_success_responses_total)", 60.0)
    names = sorted({r["metric"]["__name__"] for r in query(prometheus, '{job="litellm",__name__=~"litellm_.*"}')})
    record_figure("metrics scraped (litellm_*)", ", ".join(names))
    record_figure("requests sent / counted by Prometheus", f"60 / {total} (deployment successes {successes})")
    assert total == 60.0 and successes == 60.0
    # Both workers served (their samples are summed from the multiprocess directory).
    writers = {path.name.rsplit("_", 1)[-1] for path in pathlib.Path("/run/litellm/metrics").glob("counter_*.db")}
    assert len(writers) >= 2, writers


# README "Logs", as written there (`--since` added: only this test's lines).
FAILED_REQUESTS_QUERY = "journalctl -u litellm -o cat | jq -cR 'fromjson? | select(.level == \"ERROR\")'"


def test_json_logs_and_the_readme_query_finds_failed_requests(deployed, pairs, port, host, fleet):
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert FAILED_REQUESTS_QUERY in readme
    since = host.now()
    time.sleep(1)
    # A failed request: both backends refuse connections for a moment.
    for member in fleet.members[:2]:
        member.stop()
    try:
        ok, what = loadgen.chat_once(port, MASTER_KEY, MODEL, False, 30, tls=verifying(pairs["first"][0]))
    finally:
        for member in fleet.members[:2]:
            member.start()
    assert not ok, what
    time.sleep(2)
    query = FAILED_REQUESTS_QUERY.replace("-o cat", f"-o cat --since '{since}'")
    found = subprocess.run(["bash", "-c", query], capture_output=True, text=True, check=True).stdout.splitlines()
    assert found, "the README's query found no failed request"
    entries = [json.loads(line) for line in found]
    assert all(entry["level"] == "ERROR" and entry["message"] for entry in entries)
    assert any("connect" in json.dumps(entry).lower() for entry in entries), entries[:3]


def test_a_renewed_certificate_is_picked_up_with_one_restart_and_tls_off_removes_the_copies(
        salt_cli, salt_minion, pillar, deployed, pairs, port, host):
    since = host.now()
    time.sleep(1)
    pillar.set({**deployed, "tls": tls_pillar(pairs["renewed"])})
    try:
        ret = apply(salt_cli, salt_minion)
        assert ret.returncode == 0, ret.data
        assert host.starts_since(since) == 1
        assert get(port, "/v1/models", verifying(pairs["renewed"][0]))[0] == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            get(port, "/v1/models", verifying(pairs["first"][0]))
        again = apply(salt_cli, salt_minion)
        assert again.returncode == 0 and changes(again) == {}
        # TLS off: the formula's two copies go (and only they), the proxy serves plain HTTP.
        pillar.set({**deployed, "tls": {"certificate": "", "key": ""}})
        plain = apply(salt_cli, salt_minion)
        assert plain.returncode == 0, plain.data
        assert not KEY_FILE.exists() and not (KEY_FILE.parent / "certificate.pem").exists()
        removed = {"litellm-config-tls-key-copy-absent", "litellm-config-tls-certificate-copy-absent"}
        assert removed <= set(changes(plain))
        assert loadgen.chat_once(port, MASTER_KEY, MODEL, False, 30)[0]
    finally:
        pillar.set(deployed)
        assert apply(salt_cli, salt_minion).returncode == 0


def probe_latencies(targets, stop):
    """Seconds each probe took (a fresh connection each, as a load balancer's probe), until ``stop``:
    ``targets`` maps a label to (port, ssl context or None, path)."""
    seen = {label: [] for label in targets}
    while not stop.is_set():
        for label, (port, context, path) in targets.items():
            start = time.monotonic()
            try:
                if context:
                    status, _ = get(port, path, context, key=None, timeout=10)
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("GET", path)
                    status = conn.getresponse().status
                    conn.close()
            except OSError:
                status = None
            seen[label].append(time.monotonic() - start if status == 200 else float("inf"))
        time.sleep(0.2)
    return seen


def test_probes_answer_within_a_second_while_the_workers_are_saturated(deployed, pairs, port, record_figure):
    context = verifying(pairs["first"][0])
    probe_port = deployed["probes"]["port"]
    targets = {f"{where} {path}": (p, c, path) for where, p, c in (("main port", port, context),
                                                                   ("probe port", probe_port, None))
               for path in ("/health/liveliness", "/health/readiness")}
    stop = threading.Event()
    result = {}
    probe = threading.Thread(target=lambda: result.update(probe_latencies(targets, stop)))
    cpu_before = _unit_cpu_seconds()
    started = time.monotonic()
    probe.start()
    summary = loadgen.run(port, MASTER_KEY, MODEL, clients=48, seconds=10, tls=context)
    stop.set()
    probe.join(30)
    busy = (_unit_cpu_seconds() - cpu_before) / (time.monotonic() - started)
    record_figure("saturating load", f"{summary.sent} requests by 48 clients in 10 s, proxy CPU {busy:.2f} cores")
    for label, took in result.items():
        took = sorted(took)
        record_figure(f"probe {label} under load",
                      f"n={len(took)} median {statistics.median(took) * 1000:.0f} ms, "
                      f"p90 {took[int(len(took) * 0.9)] * 1000:.0f} ms, max {took[-1] * 1000:.0f} ms")
    assert busy > 1.5, f"the load did not saturate the two workers ({busy:.2f} cores)"
    for label, took in result.items():
        if label.startswith("probe port"):
            assert max(took) < 1.0, (label, sorted(took)[-5:])


def _unit_cpu_seconds():
    """CPU seconds the service's processes have used (user + system, from /proc: the container's
    cgroup v1 keeps no CPU accounting)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in unit_pids(f"{SERVICE}.service"):
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


NETNS = "litellm-offline"
SNIFFER = pathlib.Path(__file__).resolve().parent.parent / "netsniff.py"
CLIENT = """
import http.client, json, ssl, sys, time
port, cafile, key, model = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile=cafile)
deadline = time.monotonic() + 60
while True:
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"model": model, "messages": [
            {"role": "user", "content": "hello"}]}), headers={"Authorization": "Bearer " + key,
            "Content-Type": "application/json"})
        response = conn.getresponse()
        print(response.status, response.read()[:200].decode(errors="replace"))
        if response.status == 200:
            break
    except OSError as exc:
        print("error", exc)
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.5)
# The probes, the model list and LiteLLM's own model health check (a one-token generation per deployment).
for path in ("/health/liveliness", "/health/readiness", "/v1/models", "/health"):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    conn.request("GET", path, headers={"Authorization": "Bearer " + key})
    response = conn.getresponse()
    body = response.read()
    print(path, response.status, body[:300].decode(errors="replace"))
    if response.status != 200 or (path == "/health" and json.loads(body).get("unhealthy_count")):
        sys.exit(2)
"""


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def offline_namespace():
    """A network namespace with loopback up and a black-hole default route (IPv4 and IPv6): an attempt
    to reach any outside address sends a packet the sniffer names, instead of failing before it is
    sent. Removed afterwards (the test ends what it started there)."""
    _ip("netns", "add", NETNS)
    try:
        _ip("-n", NETNS, "link", "set", "lo", "up")
        # Both ends of a veth pair inside: what leaves one end arrives at the other, which has no
        # address and drops it (no dummy module here). No ARP/ND: packets leave without a neighbour.
        _ip("-n", NETNS, "link", "add", "blackhole0", "type", "veth", "peer", "name", "blackhole1")
        _ip("-n", NETNS, "addr", "add", "198.51.100.2/24", "dev", "blackhole0")
        _ip("-n", NETNS, "-6", "addr", "add", "2001:db8::2/64", "dev", "blackhole0", "nodad")
        _ip("-n", NETNS, "link", "set", "blackhole0", "arp", "off")
        for end in ("blackhole0", "blackhole1"):
            _ip("-n", NETNS, "link", "set", end, "up")
        _ip("-n", NETNS, "route", "add", "default", "dev", "blackhole0")
        _ip("-n", NETNS, "-6", "route", "add", "default", "dev", "blackhole0")
        yield NETNS
    finally:
        subprocess.run(["ip", "netns", "pids", NETNS], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "delete", NETNS], capture_output=True, check=False)


def test_the_proxy_starts_serves_and_health_checks_offline(deployed, pairs, port, fleet, salt_minion,
                                                           offline_namespace, tmp_path, record_figure):
    import sys  # noqa: PLC0415

    seen = tmp_path / "attempts.jsonl"
    sniffer = subprocess.Popen(["ip", "netns", "exec", NETNS, sys.executable, str(SNIFFER), str(seen)])
    deadline = time.monotonic() + 10
    while not (seen.exists() and seen.read_text().startswith("ready")) and time.monotonic() < deadline:
        time.sleep(0.1)
    backends = [subprocess.Popen(["ip", "netns", "exec", NETNS, sys.executable, str(member.process.args[1]),
                                  *member.process.args[2:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for member in fleet.members[:2]]
    dropins = [pathlib.Path(f"/etc/systemd/system/{SERVICE}.{kind}.d/offline.conf") for kind in ("socket", "service")]
    try:
        for dropin in dropins:
            dropin.parent.mkdir(exist_ok=True)
            dropin.write_text(f"[{'Socket' if 'socket' in str(dropin) else 'Service'}]\n"
                              f"NetworkNamespacePath=/run/netns/{NETNS}\n")
        subprocess.run(["systemctl", "stop", f"{SERVICE}.socket", f"{SERVICE}.service"], check=True)
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        started = time.monotonic()
        subprocess.run(["systemctl", "start", f"{SERVICE}.socket", f"{SERVICE}.service"], check=True)
        served = subprocess.run(["ip", "netns", "exec", NETNS, sys.executable, "-c", CLIENT, str(port),
                                 str(pairs["first"][0]), MASTER_KEY, MODEL],
                                capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
        assert served.returncode == 0, served.stdout + served.stderr
        # The host's namespace no longer reaches it: the proxy really runs in the offline one.
        with pytest.raises(OSError):
            get(port, "/health/liveliness", verifying(pairs["first"][0]), key=None, timeout=3)
        time.sleep(3)  # a few liveness rounds and whatever runs in the background
        # Stopped before salt-call runs: what it might look up is not the proxy's doing.
        sniffer.terminate()
        sniffer.wait(10)
        salt_call = os.path.join(os.path.dirname(sys.executable), "salt-call")
        health = subprocess.run(["ip", "netns", "exec", NETNS, salt_call, "-c", str(salt_minion.config_dir), "--local",
                                 "--out=json", "litellm.health"],
                                capture_output=True, text=True, timeout=120)
        report = json.loads(health.stdout or "{}").get("local", {})
        assert health.returncode == 0 and report.get("status") == "healthy", health.stdout[-2000:] + health.stderr[-99:]
    finally:
        sniffer.terminate()
        sniffer.wait(10)
        for backend in backends:
            backend.terminate()
            backend.wait(10)
        for dropin in dropins:
            dropin.unlink(missing_ok=True)
        subprocess.run(["systemctl", "stop", f"{SERVICE}.socket", f"{SERVICE}.service"], check=False)
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        subprocess.run(["systemctl", "start", f"{SERVICE}.socket", f"{SERVICE}.service"], check=False)
    lines = seen.read_text().splitlines()
    assert lines and lines[0] == "ready", "the sniffer did not run"
    attempts = [json.loads(line) for line in lines[1:]]
    named = sorted({f"{a['proto']} {a.get('name') or a['dst']}:{a.get('dport', '')}" for a in attempts})
    record_figure("offline start: first answer inside a loopback-only namespace", f"{took:.1f} s")
    record_figure("offline start: outside addresses tried", ", ".join(named) or "none")
    assert not attempts, f"the proxy tried to reach outside addresses: {named}"
    wait_for_port(port)
