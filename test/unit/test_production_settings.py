"""Unit tests of the production settings: Prometheus metrics, JSON logs and TLS (schema, render,
record, litellm_formula.tls, and the health checks over https against a real TLS server)."""

import contextlib
import http.client
import http.server
import ssl
import subprocess
import threading

import pytest
import yaml
from helpers import REPO, make_cert_pair

from litellm_formula import health, record, render, schema, tls

DEFAULTS = yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]
PILLAR = {"master_key": "sk-unit-0123456789abcdef", "models": [{"name": "phi3", "model": "phi3:3.8b"}],
          "backends": ["http://192.0.2.7:11434"]}


def merged(**pillar):
    return schema.merge_settings(DEFAULTS, {}, {**PILLAR, **pillar})


def errors_of(**pillar):
    return schema.validate_settings(merged(**pillar))


make_pair = make_cert_pair


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


def test_a_certificate_and_its_key_are_checked_as_a_pair_in_memory(tmp_path):
    cert, key = make_pair(tmp_path, "one")
    _, other_key = make_pair(tmp_path, "two")
    names = ("tls:certificate_file", "tls:key_file")
    assert tls.file_pair_problem(str(cert), str(key), *names) is None
    mismatch = tls.file_pair_problem(str(cert), str(other_key), *names)
    assert mismatch.startswith("litellm:tls:key_file: is not the key of the certificate")
    missing = tls.file_pair_problem(str(tmp_path / "nope.pem"), str(key), *names)
    assert missing.startswith("litellm:tls:certificate_file:") and "not a file" in missing
    assert tls.pair_problem(cert.read_text(), key.read_text(), "tls:certificate", "tls:key") is None
    broken = tls.pair_problem(cert.read_text(), other_key.read_text(), "tls:certificate", "tls:key")
    assert broken.startswith("litellm:tls:key:") and other_key.read_text()[40:80] not in broken
    garbage = tls.pair_problem(cert.read_text(), KEY, "tls:certificate", "tls:key")
    assert garbage == "litellm:tls:key: not a PEM private key"
    assert tls.pair_problem(CERT, key.read_text(), "tls:certificate", "tls:key").startswith("litellm:tls:certificate:")
    assert tls.certificate_digest(cert.read_text()) == tls.certificate_digest(cert.read_bytes())


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(tmp_path):
    cert, key = make_pair(tmp_path, "one")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:hunter22", "-out", str(encrypted)],
                   check=True, capture_output=True)
    assert "ENCRYPTED PRIVATE KEY" in encrypted.read_text()
    problem = tls.pair_problem(cert.read_text(), encrypted.read_text(), "tls:certificate", "tls:key")
    assert problem.startswith("litellm:tls:key: the key is encrypted")


@pytest.mark.parametrize("field", ["certificate", "certificate_file", "key_file"])
def test_a_key_pasted_into_the_wrong_field_is_never_shown(field):
    errors = errors_of(tls={field: KEY})
    assert errors and not any("secret-part" in error or "MIIE" in error for error in errors), errors
    settings = schema.merge_settings(DEFAULTS, {}, {**PILLAR, "tls": {field: KEY}})
    assert "secret-part" not in repr(render.redacted(settings))


def test_the_key_is_hidden_even_where_other_settings_are_malformed():
    # redacted() gives up on malformed environment/extra_config/pip: the TLS key must still be hidden.
    settings = merged(tls={"certificate": CERT, "key": KEY})
    settings["environment"] = "not a mapping"
    assert "secret-part" not in repr(render.redacted(settings))
    pillar = {**PILLAR, "tls": {"certificate": CERT, "key": KEY}}
    digest_source = repr(record._without_key(pillar))
    assert "secret-part" not in digest_source


def test_own_files_inside_the_formulas_tls_directory_are_refused():
    errors = errors_of(tls={"certificate_file": "/etc/litellm/tls/fullchain.pem", "key_file": "/etc/ssl/k.pem"})
    assert any(e.startswith("litellm:tls:certificate_file:") and "inside /etc/litellm/tls/" in e for e in errors)
    assert any(e.startswith("litellm:tls:key_file:") for e in errors_of(
        tls={"certificate_file": "/etc/ssl/c.pem", "key_file": "/etc/ssl/%i.pem"}))


@pytest.fixture
def https_server(tmp_path):
    cert, key = make_pair(tmp_path, "server")
    with serving_https(cert, key) as url:
        yield url, cert


@contextlib.contextmanager
def serving_https(cert, key, body=b'{"status": "ok"}'):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
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


def test_a_chain_file_does_not_make_its_ca_trusted_for_other_leaves(tmp_path):
    # The deployed file is leaf + CA (a fullchain); a server with another leaf of the same CA passes
    # chain verification, and must still be refused: the leaf is pinned.
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
                    "-keyout", str(ca_key), "-out", str(ca)], check=True, capture_output=True)
    leaves = {}
    for name in ("deployed", "other"):
        key, csr, crt = (tmp_path / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        ext = tmp_path / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n")
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(key),
                        "-out", str(csr)], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)],
                       check=True, capture_output=True)
        leaves[name] = (crt, key)
    fullchain = tmp_path / "fullchain.pem"
    fullchain.write_text(leaves["deployed"][0].read_text() + ca.read_text())
    for name, expected in (("deployed", 200), ("other", None)):
        with serving_https(*leaves[name]) as url:
            answer = health.http_request(f"{url}/health/liveliness", 5, cafile=str(fullchain))
        assert answer["status"] == expected, answer
        if expected is None:
            assert "presents another certificate" in answer["error"]


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
    assert seen["alive"][0] == 200 and '"alive"' in seen["alive"][1] and '"litellm-formula"' in seen["alive"][1]
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


def test_health_tells_the_probe_listener_from_another_program_on_its_port():
    import json  # noqa: PLC0415

    class Handler(http.server.BaseHTTPRequestHandler):
        marker = None

        def do_GET(self):  # noqa: N802 - http.server's name
            data = json.dumps({"status": "ok", **({"probes": self.marker} if self.marker else {})}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health/liveliness"
    try:
        stranger = health.probe_request(url, 5)
        assert stranger["status"] is None and "not the formula's probe listener" in stranger["error"]
        Handler.marker = health.PROBE_MARKER
        assert health.probe_request(url, 5)["status"] == 200
    finally:
        server.shutdown()
        server.server_close()
