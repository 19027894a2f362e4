"""The liveness callback's logic (litellm/files/default/liveness.py) without LiteLLM: how probes
classify backends, what the filter keeps, when in-flight exchanges are aborted and how an abort
surfaces. Probes go to real HTTP servers on loopback (the Ollama stand-in in-process)."""

import asyncio
import socket
import sys
import threading
import time
import types

import httpx
import ollama_standin
import pytest
from helpers import REPO, free_port


@pytest.fixture(scope="module")
def liveness():
    # Only CustomLogger is needed from LiteLLM; the stub lives while the module loads.
    stubs = {name: types.ModuleType(name) for name in ("litellm", "litellm.integrations",
                                                      "litellm.integrations.custom_logger")}
    stubs["litellm.integrations.custom_logger"].CustomLogger = type("CustomLogger", (), {})
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("liveness_under_test",
                                                      REPO / "litellm/files/default/liveness.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


@pytest.fixture
def standin():
    """An instant Ollama stand-in in this process; its knobs make it fail or hang."""
    server = ollama_standin.make_server("127.0.0.1", 0, ollama_standin.Knobs("s", ["m:1"]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.knobs.update({"hang": False})
        server.shutdown()
        server.server_close()


def url_of(server):
    return f"http://127.0.0.1:{server.server_address[1]}"


def deployment(ident, api_base):
    return {"model_info": {"id": ident}, "litellm_params": {"model": "ollama_chat/m:1", "api_base": api_base}}


def test_backend_key_normalises_and_keeps_ipv6_brackets(liveness):
    assert liveness.backend_key("http://Host.Example:11434/") == "http://host.example:11434"
    assert liveness.backend_key("http://[FD00::1]:11434") == "http://[fd00::1]:11434"
    assert liveness.backend_key("https://h") == "https://h:443"
    assert httpx.URL(liveness.backend_key("http://[fd00::1]:11434") + "/api/version").host == "fd00::1"


def test_filter_routes_around_down_backends_and_keeps_all_when_none_is_up(liveness):
    monitor = liveness.Liveness(interval=60, timeout=1)
    a, b = deployment("m@a", "http://a:11434"), deployment("m@b", "http://b:11434")

    async def run():
        first = await monitor.async_filter_deployments("m", [a, b], None, {})
        monitor.backends["http://b:11434"].up = False
        one_down = await monitor.async_filter_deployments("m", [a, b], None, {})
        # a was already tried by this request (weighted failover drops it after the filter): b is the
        # only candidate left, and it is down, so both go back and the router still tries b.
        tried_a = await monitor.async_filter_deployments("m", [a, b], None, {"_excluded_deployment_ids": ["m@a"]})
        monitor.backends["http://a:11434"].up = False
        all_down = await monitor.async_filter_deployments("m", [a, b], None, {})
        monitor._task.cancel()
        return first, one_down, tried_a, all_down

    first, one_down, tried_a, all_down = asyncio.run(run())
    assert first == [a, b]
    assert one_down == [a]
    assert tried_a == [a, b]
    assert all_down == [a, b]


def _closed_port_url():
    port = free_port()  # bound and released: nothing listens there, connections are refused
    return f"http://127.0.0.1:{port}"


def _register(monitor, *urls):
    for url in urls:
        monitor._backend_of(deployment(url, url))
    return [monitor.backends[liveness_key] for liveness_key in monitor.backends]


def test_any_http_answer_is_up_and_silence_or_refusal_is_down(liveness, standin):
    monitor = liveness.Liveness(interval=60, timeout=0.5)
    refused = _closed_port_url()
    up_url = url_of(standin)
    failing = ollama_standin.make_server("127.0.0.1", 0, ollama_standin.Knobs("f", ["m:1"], fail_status=500))
    threading.Thread(target=failing.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    hung = socket.socket()  # accepts (the kernel completes the handshake) and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    hung_url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    try:
        _register(monitor, up_url, url_of(failing), refused, hung_url)

        async def run():
            async with httpx.AsyncClient() as client:
                await monitor.probe_round(client)

        asyncio.run(run())
    finally:
        failing.shutdown()
        failing.server_close()
        hung.close()
    state = {key: b.up for key, b in monitor.backends.items()}
    assert state == {up_url: True, url_of(failing): True, refused: False, hung_url: False}
    assert "within 0.5 s" in monitor.backends[hung_url].reason
    assert "unreachable" in monitor.backends[refused].reason


def _waiting_guard(liveness, backend):
    """A guard around an exchange that never completes, awaited in a task of its own."""
    guard = liveness.Guard(backend, httpx.Request("POST", f"{backend.key}/api/chat"))
    never = asyncio.get_running_loop().create_future()
    return guard, asyncio.ensure_future(guard.wait(never))


def test_a_down_backend_trips_its_waiters_into_a_retriable_error_only_if_another_is_up(liveness, standin):
    monitor = liveness.Liveness(interval=60, timeout=0.5)
    up_url, dead_url = url_of(standin), _closed_port_url()
    _register(monitor, up_url, dead_url)
    up, dead = monitor.backends[up_url], monitor.backends[dead_url]

    async def run():
        guard_dead, waiting_dead = _waiting_guard(liveness, dead)
        guard_up, waiting_up = _waiting_guard(liveness, up)
        await asyncio.sleep(0)
        async with httpx.AsyncClient() as client:
            await monitor.probe_round(client)
        await asyncio.sleep(0)
        with pytest.raises(httpx.ReadError, match="liveness probe"):
            await waiting_dead
        assert not waiting_up.done()  # the backend that answered keeps its exchange
        waiting_up.cancel()

    asyncio.run(run())


def test_nothing_is_aborted_when_every_backend_fails_the_same_round(liveness):
    monitor = liveness.Liveness(interval=60, timeout=0.5)
    _register(monitor, _closed_port_url(), _closed_port_url())
    first = next(iter(monitor.backends.values()))

    async def run():
        guard, waiting = _waiting_guard(liveness, first)
        await asyncio.sleep(0)
        async with httpx.AsyncClient() as client:
            await monitor.probe_round(client)
        await asyncio.sleep(0.05)
        assert not waiting.done()  # nowhere else to go: the exchange keeps waiting
        assert not any(b.up for b in monitor.backends.values())  # but both are marked down
        waiting.cancel()

    asyncio.run(run())


def test_a_stalled_event_loop_does_not_call_backends_down(liveness, standin):
    monitor = liveness.Liveness(interval=60, timeout=0.2)
    hung = socket.socket()  # would time out, and be called down, in a round that was not stalled
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    _register(monitor, url_of(standin), f"http://127.0.0.1:{hung.getsockname()[1]}")

    async def stall():
        time.sleep(0.2 + liveness.STALL_SLACK + 0.3)  # blocks the loop, as a CPU-bound request would

    async def run():
        async with httpx.AsyncClient() as client:
            await asyncio.gather(monitor.probe_round(client), stall())

    try:
        asyncio.run(run())
    finally:
        hung.close()
    assert all(b.up for b in monitor.backends.values())


def test_a_cancel_that_is_not_a_trip_still_cancels(liveness):
    backend = liveness.Backend("http://h:1")

    async def run():
        guard, waiting = _waiting_guard(liveness, backend)
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(run())


def test_the_transport_guard_aborts_a_stream_between_chunks(liveness):
    monitor = liveness.Liveness(interval=60, timeout=1)
    monitor._backend_of(deployment("m@h", "http://h:11434"))
    backend = monitor.backends["http://h:11434"]
    stall = asyncio.Event()

    class Stream(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b'{"done": false}\n'
            await stall.wait()  # the backend froze mid-stream
            yield b'{"done": true}\n'

    async def handle(request):
        return httpx.Response(200, stream=Stream(), request=request)

    async def run():
        wrapped = liveness.guarded(handle, monitor)
        response = await wrapped(httpx.Request("POST", "http://h:11434/api/chat"))
        chunks = response.aiter_raw()
        assert await chunks.__anext__() == b'{"done": false}\n'
        pending = asyncio.ensure_future(chunks.__anext__())
        await asyncio.sleep(0.01)
        backend.trip("did not answer /api/version within 1 s")
        with pytest.raises(httpx.ReadError):
            await pending
        assert len(backend.in_flight) == 0
        # An exchange with a host the monitor does not know passes through unguarded.
        other = await wrapped(httpx.Request("POST", "http://elsewhere:1/api/chat"))
        assert not isinstance(other.stream, liveness.GuardedStream)

    asyncio.run(run())
