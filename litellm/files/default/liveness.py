"""Liveness routing for LiteLLM in front of Ollama: tells a busy backend from a down one.

Managed by Salt (litellm-formula); installed into the proxy's virtualenv as
``litellm_formula_liveness`` and loaded by ``litellm_settings.callbacks`` in config.yaml.

Why (README, "Failover: busy is not down"): LiteLLM's own background health checks run a real
generation per (model, backend). On a busy Ollama that probe waits in the queue behind whole
generations, times out, and the router then refuses every request with HTTP 429; the probes also
load every probed model into memory, evicting the ones users wait for. Instead, each proxy worker:

1. probes every backend's ``GET /api/version`` every ``LITELLM_FORMULA_PROBE_INTERVAL`` seconds with
   a ``LITELLM_FORMULA_PROBE_TIMEOUT`` timeout. Ollama answers it outside its scheduler, at once
   even with every slot busy, and it loads no model. A backend that answers is up (busy or not);
   one that refuses or stays silent is down;
2. routes new requests only to deployments whose backend is up (``async_filter_deployments``). When
   no backend of a model is up, it keeps every deployment: trying beats refusing everything;
3. aborts what is in flight on a backend when it fails a probe, with a connection error, so
   LiteLLM's weighted failover retries the request on another deployment
   (``router_settings.enable_weighted_failover``). A request on a backend that hangs therefore
   waits at most one interval plus one probe timeout; a long generation on a backend that keeps
   answering its probes is never cut.

The abort works at the HTTP transport: LiteLLM's async client transport is wrapped once, at import
(``AsyncHTTPHandler.create_async_transport``, litellm 1.108.x). If that hook is missing the module
still filters routing and says so in the log; the router's timeouts then bound a hung backend.
"""

import asyncio
import logging
import os
import urllib.parse

import httpx

from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("litellm_formula.liveness")

INTERVAL = float(os.environ.get("LITELLM_FORMULA_PROBE_INTERVAL", "5"))
TIMEOUT = float(os.environ.get("LITELLM_FORMULA_PROBE_TIMEOUT", "2"))


def backend_key(url):
    """``scheme://host:port`` of a URL, the unit a probe speaks for."""
    parts = urllib.parse.urlsplit(str(url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class Backend:
    """One Ollama server as this worker sees it, and the requests it has in flight."""

    def __init__(self, key):
        self.key = key
        self.up = True  # until a probe says otherwise: a fresh worker routes everywhere
        self.reason = ""
        self.in_flight = set()

    def trip(self, reason):
        """Abort every request waiting on this backend now."""
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
            raise self._error()
        task = asyncio.current_task()
        self.task = task
        try:
            return await awaitable
        except asyncio.CancelledError:
            # Ours only if we tripped and nobody else asked this task to stop.
            if self.reason is not None and task.cancelling() == 1:
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


class GuardedTransport(httpx.AsyncBaseTransport):
    """Wraps LiteLLM's transport: exchanges with a known backend are guarded, others pass through."""

    def __init__(self, inner, monitor):
        self.inner = inner
        self.monitor = monitor

    async def handle_async_request(self, request):
        backend = self.monitor.backends.get(backend_key(request.url))
        if backend is None:
            return await self.inner.handle_async_request(request)
        guard = Guard(backend, request)
        try:
            response = await guard.wait(self.inner.handle_async_request(request))
        except BaseException:
            guard.done()
            raise
        response.stream = GuardedStream(response.stream, guard)
        return response

    async def aclose(self):
        await self.inner.aclose()


class Liveness(CustomLogger):
    """The LiteLLM callback: probes backends, filters deployments, owns the transport guard."""

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
        self._ensure_prober()
        up = []
        for deployment in healthy_deployments:
            backend = self._backend_of(deployment)
            if backend is None or backend.up:
                up.append(deployment)
        # No backend of this model answers: keep trying them all rather than refuse the request.
        return up or healthy_deployments

    # Probing -----------------------------------------------------------------------------------
    def _ensure_prober(self):
        # One prober per event loop: gunicorn forks workers from a preloaded arbiter, each with its own.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._task = loop.create_task(self._probe_forever(), name="litellm-formula-liveness")

    async def _probe_forever(self):
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
            while True:
                await asyncio.gather(*(self._probe(client, b) for b in list(self.backends.values())))
                await asyncio.sleep(self.interval)

    async def _probe(self, client, backend):
        try:
            response = await client.get(f"{backend.key}/api/version")
            problem = None if response.status_code == 200 else f"answered /api/version with {response.status_code}"
        except httpx.TimeoutException:
            problem = f"did not answer /api/version within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            problem = f"unreachable ({type(exc).__name__}: {exc})"
        if problem is None:
            if not backend.up:
                log.warning("liveness: %s is back up", backend.key)
            backend.up, backend.reason = True, ""
            return
        if backend.up:
            log.warning("liveness: %s is down: %s", backend.key, problem)
        backend.up, backend.reason = False, problem
        backend.trip(problem)


def _install_transport_guard(monitor):
    try:
        from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

        original = AsyncHTTPHandler.create_async_transport
    except (ImportError, AttributeError) as exc:
        log.warning("liveness: cannot guard in-flight requests on this LiteLLM (%s); timeouts bound them", exc)
        return

    def create_async_transport(*args, **kwargs):
        inner = original(*args, **kwargs)
        return GuardedTransport(inner if inner is not None else httpx.AsyncHTTPTransport(), monitor)

    AsyncHTTPHandler.create_async_transport = staticmethod(create_async_transport)


liveness = Liveness()
_install_transport_guard(liveness)
