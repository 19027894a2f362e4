"""Unit tests of the production settings: Prometheus metrics, JSON logs and TLS (schema, render,
record, litellm_formula.tls, and the health checks over https against a real TLS server)."""

import http.client
import http.server
import ssl
import subprocess
import threading

import pytest
import yaml
from helpers import REPO

from litellm_formula import health, record, render, schema, tls

DEFAULTS = yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]
PILLAR = {"master_key": "sk-unit-0123456789abcdef", "models": [{"name": "phi3", "model": "phi3:3.8b"}],
          "backends": ["http://192.0.2.7:11434"]}


def merged(**pillar):
    return schema.merge_settings(DEFAULTS, {}, {**PILLAR, **pillar})


def errors_of(**pillar):
    return schema.validate_settings(merged(**pillar))


def make_pair(directory, name, cn="127.0.0.1"):
    """A real self-signed certificate and its key (openssl), as files."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName=IP:{cn}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


# -- metrics ---------------------------------------------------------------------------------------


def test_metrics_are_off_by_default_and_leave_the_unit_as_it_was():
    settings = merged()
    assert "prometheus" not in render.proxy_config(settings)["litellm_settings"]["callbacks"]
    assert render.service_args(settings) == []
    assert render.derived(settings, 2, 4096)["metrics_dir"] is None


def test_metrics_turn_on_the_callback_a_localhost_listener_and_the_multiprocess_directory():
    settings = merged(metrics={"enabled": True, "port": 4101})
    assert errors_of(metrics={"enabled": True, "port": 4101}) == []
    assert "prometheus" in render.proxy_config(settings)["litellm_settings"]["callbacks"]
    assert render.service_args(settings) == ["--prometheus_metrics_port", "4101"]
    derived = render.derived(settings, 2, 4096)
    # LiteLLM binds its metrics listener to --host: the socket unit holds the public address.
    assert derived["exec_host"] == "127.0.0.1"
    assert derived["metrics_dir"] == "/run/litellm/metrics"
    assert "--prometheus_metrics_port 4101" in derived["server_args"]
    # The trial start gets no metrics listener (it would collide with the live one).
    assert "--prometheus_metrics_port" not in render.server_args(settings, 1)


@pytest.mark.parametrize(("pillar", "key"), [
    ({"metrics": {"enabled": True, "port": 4001}, "server": "uvicorn"}, "litellm:metrics:enabled"),
    ({"metrics": {"enabled": True, "port": 4000}}, "litellm:metrics:port"),
    ({"metrics": {"enabled": True, "port": 80}}, "litellm:metrics:port"),
    ({"metrics": {"enabled": "yes"}}, "litellm:metrics:enabled"),
    ({"metrics": {"enabled": True, "scrape": 1}}, "litellm:metrics:scrape"),
])
def test_bad_metrics_settings_name_their_key(pillar, key):
    assert any(error.startswith(key + ":") for error in errors_of(**pillar)), errors_of(**pillar)


def test_without_socket_activation_host_stays_the_bind_address():
    assert render.exec_host(merged(server="uvicorn", bind_host="10.1.2.3")) == "10.1.2.3"


# -- logs ------------------------------------------------------------------------------------------


def test_json_logs_switch_litellm_and_its_early_lines_to_json():
    settings = merged(log_format="json")
    assert render.proxy_config(settings)["litellm_settings"]["json_logs"] is True
    assert render.service_environment(settings)["JSON_LOGS"] == "True"
    text = merged()
    assert "json_logs" not in render.proxy_config(text)["litellm_settings"]
    assert "JSON_LOGS" not in render.service_environment(text)
    assert any(error.startswith("litellm:log_format:") for error in errors_of(log_format="xml"))
    assert any(error.startswith("litellm:environment:JSON_LOGS") for error in
               errors_of(environment={"JSON_LOGS": "True"}))


# -- TLS -------------------------------------------------------------------------------------------

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE-secret-part\n-----END PRIVATE KEY-----\n"


def test_tls_from_pillar_text_serves_https_through_systemd_credentials():
    settings = merged(tls={"certificate": CERT, "key": KEY})
    assert errors_of(tls={"certificate": CERT, "key": KEY}) == []
    assert render.service_args(settings) == ["--ssl_certfile_path", "%d/tls-certificate.pem",
                                             "--ssl_keyfile_path", "%d/tls-key.pem"]
    where = render.paths(settings)
    assert where["tls_certificate"] == "/etc/litellm/tls/certificate.pem"
    assert where["tls_key"] == "/etc/litellm/tls/key.pem"
    derived = render.derived(settings, 2, 4096)
    assert derived["tls_enabled"] and derived["url"] == "https://127.0.0.1:4000"
    # The key is in no returned setting, and not in the record (digest included).
    assert "secret-part" not in repr(render.redacted(settings))
    deployed = record.build(settings, {**PILLAR}, 2, 4096, "litellm")
    assert deployed["url"] == "https://127.0.0.1:4000"
    assert deployed["tls_certificate"] == "/etc/litellm/tls/certificate.pem"
    other_key = record.build(merged(tls={"certificate": CERT, "key": KEY.replace("secret", "other")}),
                             PILLAR, 2, 4096, "litellm")
    assert other_key["settings_digest"] == deployed["settings_digest"]


def test_tls_from_files_uses_them_in_place():
    settings = merged(tls={"certificate_file": "/etc/ssl/site/fullchain.pem", "key_file": "/etc/ssl/private/site.pem"})
    where = render.paths(settings)
    assert (where["tls_certificate"], where["tls_key"]) == ("/etc/ssl/site/fullchain.pem", "/etc/ssl/private/site.pem")


@pytest.mark.parametrize(("tls_pillar", "key"), [
    ({"certificate": CERT}, "litellm:tls:key"),
    ({"key": KEY}, "litellm:tls:certificate"),
    ({"certificate": CERT, "key": KEY, "key_file": "/etc/ssl/k.pem"}, "litellm:tls:key_file"),
    ({"certificate": CERT, "key_file": "/etc/ssl/k.pem"}, "litellm:tls"),
    ({"certificate": "not a certificate", "key": KEY}, "litellm:tls:certificate"),
    ({"certificate": CERT, "key": "hunter2-not-pem"}, "litellm:tls:key"),
    ({"certificate_file": "etc/relative.pem", "key_file": "/etc/ssl/k.pem"}, "litellm:tls:certificate_file"),
    ({"certificate": CERT, "key": KEY, "ca": "x"}, "litellm:tls:ca"),
])
def test_bad_tls_settings_name_their_key_and_never_show_the_key(tls_pillar, key):
    errors = errors_of(tls=tls_pillar)
    assert any(error.startswith(key + ":") for error in errors), errors
    assert not any("hunter2" in error or "secret-part" in error for error in errors)


def test_a_certificate_and_its_key_are_checked_as_a_pair(tmp_path):
    cert, key = make_pair(tmp_path, "one")
    _, other_key = make_pair(tmp_path, "two")
    assert tls.pair_problem(str(cert), str(key), "tls:certificate_file", "tls:key_file") is None
    mismatch = tls.pair_problem(str(cert), str(other_key), "tls:certificate_file", "tls:key_file")
    assert mismatch.startswith("litellm:tls:key_file: is not the key of the certificate")
    missing = tls.pair_problem(str(tmp_path / "nope.pem"), str(key), "tls:certificate_file", "tls:key_file")
    assert missing.startswith("litellm:tls:certificate_file:") and "not a file" in missing
    assert tls.text_pair_problem(cert.read_text(), key.read_text()) is None
    broken = tls.text_pair_problem(cert.read_text(), other_key.read_text())
    assert broken.startswith("litellm:tls:key:") and other_key.read_text()[40:80] not in broken
    assert tls.certificate_digest(cert.read_text()) == tls.certificate_digest(cert.read_bytes())


@pytest.fixture
def https_server(tmp_path):
    cert, key = make_pair(tmp_path, "server")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def test_health_checks_trust_only_the_deployed_certificate(https_server, tmp_path):
    url, cert = https_server
    trusted = health.http_request(f"{url}/health/liveliness", 5, cafile=str(cert))
    assert trusted["status"] == 200, trusted
    stranger, _ = make_pair(tmp_path, "stranger")
    refused = health.http_request(f"{url}/health/liveliness", 5, cafile=str(stranger))
    assert refused["status"] is None and "CERTIFICATE_VERIFY_FAILED" in refused["error"]
    # Without the deployed certificate, the system's trust store refuses a self-signed one.
    assert health.http_request(f"{url}/health/liveliness", 5)["status"] is None


# -- probes ----------------------------------------------------------------------------------------


def load_probes(monkeypatch, listen):
    import importlib.util  # noqa: PLC0415

    monkeypatch.setenv("LITELLM_FORMULA_PROBE_LISTEN", listen)
    spec = importlib.util.spec_from_file_location("probes_under_test", REPO / "litellm/files/default/probes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_probes_answer_from_their_thread_and_say_when_the_loop_is_stuck(monkeypatch):
    import asyncio  # noqa: PLC0415
    import socket  # noqa: PLC0415
    import time  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    probes = load_probes(monkeypatch, f"127.0.0.1:{port}")
    probes.STALE = 0.6
    seen = {}

    async def worker():
        probes.start()  # what instantiating the callback does in a worker
        await asyncio.sleep(0.3)
        seen["alive"] = await asyncio.to_thread(probe, port, "/health/liveliness")
        seen["ready"] = await asyncio.to_thread(probe, port, "/health/readiness")
        # The loop blocked (a blocking call in a worker): the thread still answers, and says so.
        answer = {}
        def ask():
            time.sleep(1.0)
            answer["stuck"] = probe(port, "/health/liveliness")

        asker = threading.Thread(target=ask)
        asker.start()
        time.sleep(1.5)  # noqa: ASYNC251 - blocking the loop on purpose
        asker.join()
        seen.update(answer)
        await asyncio.sleep(0.7)
        seen["again"] = await asyncio.to_thread(probe, port, "/health/liveliness")

    asyncio.run(worker())
    assert seen["alive"][0] == 200 and '"alive"' in seen["alive"][1]
    # No router without LiteLLM's proxy loaded: not ready yet.
    assert seen["ready"][0] == 503 and "loading" in seen["ready"][1]
    assert seen["stuck"][0] == 503 and "stuck" in seen["stuck"][1]
    assert seen["again"][0] == 200


def test_probes_start_nothing_without_their_variable_or_a_running_loop(monkeypatch):
    probes = load_probes(monkeypatch, "")
    probes.start()
    assert probes.STATE.pid is None
    probes = load_probes(monkeypatch, "127.0.0.1:1")
    probes.start()  # no running loop: a preloading master
    assert probes.STATE.pid is None


def test_probes_are_on_by_default_on_their_own_port():
    settings = merged()
    assert schema.PROBES_CALLBACK in render.proxy_config(settings)["litellm_settings"]["callbacks"]
    assert render.probe_listen(settings) == "0.0.0.0:4002"
    assert record.build(settings, PILLAR, 2, 4096, "litellm")["probe_url"] == "http://127.0.0.1:4002"
    off = merged(probes={"enabled": False, "port": 4002})
    assert schema.PROBES_CALLBACK not in render.proxy_config(off)["litellm_settings"]["callbacks"]
    assert render.derived(off, 2, 4096)["probe_listen"] is None
    assert any(e.startswith("litellm:probes:port:") for e in errors_of(probes={"enabled": True, "port": 4000}))
    assert any(e.startswith("litellm:probes:port:") for e in errors_of(
        probes={"enabled": True, "port": 4001}, metrics={"enabled": True, "port": 4001}))
