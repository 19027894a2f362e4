"""Liveness routing for LiteLLM in front of Ollama: tells a busy backend from a down one.

Managed by Salt (litellm-formula); installed into the proxy's virtualenv as
``litellm_formula_liveness`` and loaded by ``litellm_settings.callbacks`` in config.yaml.

Why (docs/failover.md): LiteLLM's own background health checks run a real
generation per (model, backend). On a busy Ollama that probe waits in the queue behind whole
generations, times out, and the router then refuses every request with HTTP 429; the probes also
load every probed model into memory, evicting the ones users wait for. Instead, each proxy worker:

1. probes every backend's ``GET /api/version`` in rounds that start every
   ``LITELLM_FORMULA_PROBE_INTERVAL`` seconds, each probe bounded by ``LITELLM_FORMULA_PROBE_TIMEOUT``.
   Ollama answers it outside its scheduler, at once even with every slot busy, and it loads no
   model. Any HTTP answer means up (busy or not); no answer in time, or no connection, means down;
2. routes new requests only to deployments whose backend is up (``async_filter_deployments``). When
   none of the candidates is up, it keeps them all: trying beats refusing everything;
3. when a round finds a backend down while another one is up, aborts what is waiting on the down
   one with a connection error, so LiteLLM's weighted failover retries it on another deployment
   (``router_settings.enable_weighted_failover``). A request on a backend that hangs therefore waits
   at most one interval plus one probe timeout. When every backend fails the same round, nothing is
   aborted: that looks like trouble on the proxy's side (its own network), and there would be
   nowhere to go. A round that overran its timeout (this worker's event loop was stalled) is ignored.

The abort works at the HTTP transport: the async transports LiteLLM creates
(``AsyncHTTPHandler.create_async_transport``, litellm 1.108.x) get their ``handle_async_request``
wrapped on the instance (their type stays, so LiteLLM's own checks on it still hold). If that hook
is missing the module still filters routing and says so in the log; the router's timeouts then bound
a hung backend.
"""

import asyncio
import logging
import os
import time
import urllib.parse
import weakref

import httpx

from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("litellm_formula.liveness")

INTERVAL = float(os.environ.get("LITELLM_FORMULA_PROBE_INTERVAL", "5"))
TIMEOUT = float(os.environ.get("LITELLM_FORMULA_PROBE_TIMEOUT", "2"))
STALL_SLACK = 1.0  # seconds a probe round may overrun its timeout before the worker counts as stalled


def backend_key(url):
    """``scheme://host:port`` of a URL (IPv6 hosts keep their brackets): what one probe speaks for."""
    parts = urllib.parse.urlsplit(str(url))
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{host}:{port}"


class Backend:
    """One Ollama server as this worker sees it, and the exchanges waiting on it."""

    def __init__(self, key):
        self.key = key
        self.up = True  # until a probe says otherwise: a fresh worker routes everywhere
        self.reason = ""
        self.in_flight = weakref.WeakSet()  # a response nobody reads or closes must not pin its guard

    def trip(self, reason):
        """Abort every exchange waiting on this backend now."""
        for guard in list(self.in_flight):
            guard.trip(f"{self.key} {reason}")


class Guard:
    """Makes one HTTP exchange with a backend abortable while it waits on that backend."""

    def __init__(self, backend, request):
        self.backend = backend
        self.request = request
        self.reason = None
        self.task = None  # the task waiting on the backend right now, if any
        backend.in_flight.add(self)

    def trip(self, reason):
        if self.reason is None:
            self.reason = reason
            if self.task is not None:
                self.task.cancel()

    def done(self):
        self.backend.in_flight.discard(self)

    async def wait(self, awaitable):
        """Await ``awaitable``; a trip meanwhile turns into ``httpx.ReadError`` (retriable)."""
        if self.reason is not None:
            if hasattr(awaitable, "close"):
                awaitable.close()  # never awaited: say so, or Python warns at garbage collection
            raise self._error()
        task = asyncio.current_task()
        cancels_before = task.cancelling()
        self.task = task
        try:
            return await awaitable
        except asyncio.CancelledError:
            # Ours only when we tripped and nobody else asked this task to stop meanwhile.
            if self.reason is not None and task.cancelling() == cancels_before + 1:
                task.uncancel()
                raise self._error() from None
            raise
        finally:
            self.task = None

    def _error(self):
        return httpx.ReadError(f"backend stopped answering its liveness probe: {self.reason}", request=self.request)


class GuardedStream(httpx.AsyncByteStream):
    """A response body whose every read can be aborted by the backend's guard."""

    def __init__(self, inner, guard):
        self.inner = inner
        self.guard = guard

    async def __aiter__(self):
        iterator = self.inner.__aiter__()
        try:
            while True:
                try:
                    chunk = await self.guard.wait(iterator.__anext__())
                except StopAsyncIteration:
                    return
                yield chunk
        finally:
            self.guard.done()

    async def aclose(self):
        self.guard.done()
        await self.inner.aclose()


def guarded(handle_async_request, monitor):
    """Wraps a transport's ``handle_async_request``: exchanges with a known backend are guarded."""

    async def handle(request):
        backend = monitor.backends.get(backend_key(request.url))
        if backend is None:
            return await handle_async_request(request)
        guard = Guard(backend, request)
        try:
            response = await guard.wait(handle_async_request(request))
        except BaseException:
            guard.done()
            raise
        response.stream = GuardedStream(response.stream, guard)
        return response

    return handle


class Liveness(CustomLogger):
    """The LiteLLM callback: probes backends, filters deployments, trips the transport guards."""

    def __init__(self, interval=INTERVAL, timeout=TIMEOUT):
        super().__init__()
        self.interval = interval
        self.timeout = timeout
        self.backends = {}
        self._loop = None
        self._task = None

    # Routing -----------------------------------------------------------------------------------
    def _backend_of(self, deployment):
        api_base = ((deployment or {}).get("litellm_params") or {}).get("api_base")
        if not api_base:
            return None
        key = backend_key(api_base)
        if key not in self.backends:
            self.backends[key] = Backend(key)
        return self.backends[key]

    async def async_filter_deployments(self, model, healthy_deployments, messages, request_kwargs=None,
                                       parent_otel_span=None):
        # Weighted failover drops the deployments this request already tried after this filter: count
        # them out here, or "none up" would be decided on candidates that are gone anyway.
        excluded = set((request_kwargs or {}).get("_excluded_deployment_ids") or ())
        up = []
        for deployment in healthy_deployments:
            backend = self._backend_of(deployment)
            if ((deployment.get("model_info") or {}).get("id") not in excluded
                    and (backend is None or backend.up)):
                up.append(deployment)
        self._ensure_prober()
        # None of the candidates answers: keep them all rather than refuse the request.
        return up or healthy_deployments

    # Probing -----------------------------------------------------------------------------------
    def _ensure_prober(self):
        # One prober per event loop: gunicorn forks workers from a preloaded arbiter, each with its own.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._task = loop.create_task(self._probe_forever(), name="litellm-formula-liveness")

    async def _probe_forever(self):
        async with httpx.AsyncClient(trust_env=False) as client:
            while True:
                started = time.monotonic()
                await self.probe_round(client)
                # Rounds start every interval whatever a round took: the bound stays interval + timeout.
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def probe_round(self, client):
        backends = list(self.backends.values())
        started = time.monotonic()
        problems = await asyncio.gather(*(self._probe(client, b) for b in backends))
        took = time.monotonic() - started
        if took > self.timeout + STALL_SLACK:
            # Every probe is bounded by the timeout: a round this late means this worker's event loop
            # was stalled, and its timeouts say nothing about the backends.
            log.warning("liveness: probe round took %.1f s (event loop stalled); its results are ignored", took)
            return
        everyone_failed = all(problems)
        for backend, problem in zip(backends, problems):
            if problem is None:
                if not backend.up:
                    log.warning("liveness: %s is back up", backend.key)
                backend.up, backend.reason = True, ""
                continue
            if backend.up:
                log.warning("liveness: %s is down: %s", backend.key, problem)
            backend.up, backend.reason = False, problem
            if not everyone_failed:
                backend.trip(problem)
        if everyone_failed and backends:
            log.warning("liveness: no backend answered this round; nothing in flight is aborted")

    async def _probe(self, client, backend):
        """None when the backend answered anything over HTTP, else why it counts as down."""
        try:
            async with asyncio.timeout(self.timeout):
                await client.get(f"{backend.key}/api/version")
            return None
        except TimeoutError:
            return f"did not answer /api/version within {self.timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure to get an answer means down
            return f"unreachable ({type(exc).__name__}: {exc})"


def install_transport_guard(monitor):
    try:
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

        original = AsyncHTTPHandler.create_async_transport
    except (ImportError, AttributeError) as exc:
        log.warning("liveness: cannot guard in-flight requests on this LiteLLM (%s); timeouts bound them", exc)
        return

    def create_async_transport(*args, **kwargs):
        transport = original(*args, **kwargs)
        if transport is not None:  # None: httpx builds its default transport, left unguarded
            transport.handle_async_request = guarded(transport.handle_async_request, monitor)
        return transport

    AsyncHTTPHandler.create_async_transport = staticmethod(create_async_transport)


liveness = Liveness()
install_transport_guard(liveness)
