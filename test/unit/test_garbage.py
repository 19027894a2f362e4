"""Garbage in, verdict out: whatever answers on a backend's or the proxy's port (not HTTP, truncated,
endless, huge, trickling, wrong JSON, a redirect), the health checks give a verdict and an error
string within their timeout, never a traceback, and the key never follows a redirect."""

import socket
import threading
import time

import pytest

from litellm_formula import health

TIMEOUT = 1.0
KEY = "sk-garbage-" + "0123456789abcdef"


def _ok(body, status="200 OK", extra=""):
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def _chunks_forever(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while True:
        conn.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")


def _trickle(conn):
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 1000:
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


def _reset(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


BEHAVIOURS = {
    "closes at once": lambda conn: None,
    "resets the connection": _reset,
    "speaks SSH": lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
    "never answers": lambda conn: time.sleep(TIMEOUT * 3),
    "status line, then silence": lambda conn: (conn.sendall(b"HTTP/1.1 200 OK\r\n"), time.sleep(TIMEOUT * 3)),
    "status code not a number": lambda conn: conn.sendall(b"HTTP/1.1 abc OK\r\n\r\n"),
    "body shorter than announced": lambda conn: conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"version\":"),
    "endless chunked body": _chunks_forever,
    "trickles its headers": _trickle,
    "one 70 kB header line": lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"z" * 70000 + b"\r\n\r\n"),
    "150 headers": lambda conn: conn.sendall(
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"),
    "2 MB of JSON": lambda conn: conn.sendall(_ok(b'{"version": "' + b"9" * (2 << 20) + b'"}')),
    "a JSON list": lambda conn: conn.sendall(_ok(b"[1, 2, 3]")),
    "JSON null": lambda conn: conn.sendall(_ok(b"null")),
    "a JSON string": lambda conn: conn.sendall(_ok(b'"version"')),
    "invalid UTF-8": lambda conn: conn.sendall(_ok(b"\xff\xfe\xfa{\x80")),
    "an HTML page": lambda conn: conn.sendall(_ok(b"<html><body>It works!</body></html>",
                                                 extra="Content-Type: text/html\r\n")),
    "HTTP 500 with garbage": lambda conn: conn.sendall(_ok(b"\x00\x01 oops", status="500 Internal Server Error")),
    "a bad chunk size": lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    "no status line at all": lambda conn: conn.sendall(b'{"version": "0.5.1"}'),
    "JSON of the wrong types": lambda conn: conn.sendall(
        _ok(b'{"version": 5, "models": "x", "data": {"id": 1}, "choices": {"a": 1}, "error": [1]}')),
    "HTTP/2 preface": lambda conn: conn.sendall(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64"),
}


class Garbage:
    """One listening socket per behaviour; each connection gets the behaviour after its request."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.settimeout(TIMEOUT * 3)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            self.requests.append(request)
            self.behaviour(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture(params=sorted(BEHAVIOURS), ids=lambda name: name.replace(" ", "-"))
def garbage(request):
    server = Garbage(BEHAVIOURS[request.param])
    yield server
    server.close()


def test_a_garbage_backend_and_proxy_give_a_verdict_in_time(garbage):
    started = time.monotonic()
    report = health.health_report(garbage.url, KEY, {"m": [garbage.url]}, {"m": "phi3:3.8b"},
                                  timeout=TIMEOUT, deep=True)
    took = time.monotonic() - started
    assert report["status"] in ("unhealthy", "degraded") and report["healthy"] is False
    assert isinstance(report["summary"], str) and report["summary"]
    assert report["backends"][garbage.url]["up"] is False
    assert isinstance(report["backends"][garbage.url]["error"], str)
    assert isinstance(report["proxy"]["problem"], str)
    assert took < TIMEOUT + 1.5, f"{took:.1f}s"


def test_every_single_request_returns_a_result_with_an_error_or_a_status(garbage):
    result = health.http_request(garbage.url + "/api/version", TIMEOUT)
    assert set(result) == {"status", "body", "latency_ms", "error"}
    assert result["error"] is not None or result["status"] is not None
    assert result["latency_ms"] < (TIMEOUT + 0.5) * 1000
    if result["body"] is not None:
        assert len(result["body"]) <= health.MAX_BODY


def test_the_key_never_follows_a_redirect():
    elsewhere = Garbage(lambda conn: conn.sendall(_ok(b'{"data": []}')))
    redirect = Garbage(lambda conn: conn.sendall(
        b"HTTP/1.1 301 Moved\r\nLocation: " + elsewhere.url.encode() + b"/v1/models\r\nContent-Length: 0\r\n\r\n"))
    try:
        result = health.http_request(redirect.url + "/v1/models", TIMEOUT, health.bearer(KEY))
        assert result["status"] == 301
        time.sleep(0.2)
        assert elsewhere.requests == []
        assert KEY.encode() in redirect.requests[0]  # it went where it was sent, and only there
    finally:
        redirect.close()
        elsewhere.close()


def test_https_against_a_plain_port_is_an_error_not_a_traceback():
    server = Garbage(BEHAVIOURS["an HTML page"])
    try:
        result = health.http_request(server.url.replace("http://", "https://") + "/api/version", TIMEOUT)
        assert result["status"] is None and result["error"]
    finally:
        server.close()
