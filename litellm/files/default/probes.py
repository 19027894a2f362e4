"""Liveness and readiness probes that answer while the workers are saturated.

Managed by Salt (litellm-formula); installed into the proxy's virtualenv as ``litellm_formula_probes``
and loaded by ``litellm_settings.callbacks`` in config.yaml when pillar ``probes:enabled`` is true.

Why (README "Probes"): LiteLLM's /health/liveliness and /health/readiness are served by the same event
loops as the requests; with the workers saturated a probe waits behind them (measured: over 1 s). LiteLLM
1.108.7 has no separate health app. So each worker runs a small HTTP listener in a thread of its own, on
``LITELLM_FORMULA_PROBE_LISTEN`` (host:port, set only in the unit: the trial start and the config check
get none), all workers sharing the port (SO_REUSEPORT). The thread needs only the GIL, which the busy
loop hands over every few milliseconds, so it answers in milliseconds, and it tells the truth about the
loop:

- ``GET /health/liveliness``: 200 while this worker's event loop ran a heartbeat within STALE seconds,
  503 when the loop is stuck (a blocking call, a deadlock);
- ``GET /health/readiness``: 200 when, in addition, the worker has loaded its router (config.yaml), 503
  before.
"""

import asyncio
import http.server
import json
import logging
import os
import socket
import threading
import time

log = logging.getLogger("litellm_formula.probes")

LISTEN = os.environ.get("LITELLM_FORMULA_PROBE_LISTEN", "")
BEAT = 0.5  # seconds between heartbeats on the worker's event loop
STALE = 5.0  # a loop that has not run a heartbeat for this long is stuck, not busy
MARKER = "litellm-formula"


class State:
    def __init__(self):
        self.beat = time.monotonic()
        self.pid = None

    def alive(self):
        return time.monotonic() - self.beat < STALE

    @staticmethod
    def router_loaded():
        try:
            from litellm.proxy import proxy_server  # noqa: PLC0415 - loaded by then; never at import
        except ImportError:
            return False
        return getattr(proxy_server, "llm_router", None) is not None


STATE = State()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health/liveliness":
            ok = STATE.alive()
            body = {"status": "alive" if ok else "event loop stuck"}
        elif path == "/health/readiness":
            loaded = STATE.router_loaded()
            ok = STATE.alive() and loaded
            body = {"status": "ready" if ok else ("event loop stuck" if loaded else "loading")}
        else:
            self.send_error(404)
            return
        # The marker lets litellm.health tell this listener from another program on the port.
        data = json.dumps({**body, "probes": MARKER}).encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # probes every few seconds would flood the journal


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # Every worker binds the same port; the kernel spreads the probes over them.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def _split(listen):
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def _heartbeat():
    while True:
        STATE.beat = time.monotonic()
        await asyncio.sleep(BEAT)


def start():
    """In a worker (a running event loop, LITELLM_FORMULA_PROBE_LISTEN set): the heartbeat and the
    listener, once per process."""
    if not LISTEN or STATE.pid == os.getpid():
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # imported outside a worker's loop (a preloading master): the workers start their own
    host, port = _split(LISTEN)
    Server.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        server = Server((host, port), Handler)
    except OSError as exc:
        # The proxy still serves; litellm.health and the apply's health gate then fail naming the port.
        log.error("litellm-formula probes: cannot listen on %s: %s", LISTEN, exc)
        return
    STATE.pid = os.getpid()
    STATE.beat = time.monotonic()
    loop.create_task(_heartbeat(), name="litellm-formula-probes-heartbeat")
    threading.Thread(target=server.serve_forever, name="litellm-formula-probes", daemon=True).start()


try:
    from litellm.integrations.custom_logger import CustomLogger
except ImportError:  # the unit tests load this file without LiteLLM
    CustomLogger = object


class Probes(CustomLogger):
    """The callback config.yaml names; instantiating it in a worker starts the probes."""

    def __init__(self):
        super().__init__()
        start()


probes = Probes()
