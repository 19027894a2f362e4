"""Per-request CPU that LiteLLM 1.108.7 spends for nothing, taken back (docs/performance.md).

Managed by Salt (litellm-formula); installed into the proxy's virtualenv as
``litellm_formula_workarounds`` and loaded by ``litellm_settings.callbacks`` in config.yaml (the
instance below has no hooks: loading the module is the point). Each fix is checked against the
pinned release and skipped, with a log line, when the code it targets is not there.

1. ``OllamaModelInfo._is_static_ollama_model`` builds a lowercase set of every key in the cost map
   (thousands) on each call, and every chat request calls it twice (``responses_api_bridge_check``
   looks up model info before and after its parameters are known). Its answer depends only on the
   model name and the cost map's keys, so it is cached per (model, cost map identity and size): a
   model registered later grows the map and misses the cache.
2. Authentication imports ``litellm.integrations.otel.logger`` on every request to route tracing.
   Without the OpenTelemetry SDK (``litellm[proxy]`` does not install it) that import fails halfway,
   after reading and executing part of the module, and Python retries it on the next request. With
   no SDK installed the module is marked unavailable once, so the import fails at once; tracing is
   off either way.
3. At a graceful stop (a restart, a worker recycled), uvicorn closes every connection that has no
   request in progress, including one accepted a moment ago whose request is still in the kernel's
   buffer: that client, which sent a whole request, gets a connection reset. Only for such a fresh
   connection (it never had a response, so no keep-alive timer) the close is put off by
   FRESH_CONNECTION_GRACE seconds: its request is read and then served with ``Connection: close``
   (uvicorn's own shutdown does that for a request in progress). The worker's drain waits for it.
"""

import importlib.util
import logging
import sys

import litellm
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("litellm_formula.workarounds")

OTEL_LOGGER = "litellm.integrations.otel.logger"
FRESH_CONNECTION_GRACE = 0.5


def cache_static_ollama_model_check():
    try:
        from litellm.llms.ollama.common_utils import OllamaModelInfo

        original = OllamaModelInfo._is_static_ollama_model
    except (ImportError, AttributeError) as exc:
        log.warning("workarounds: OllamaModelInfo._is_static_ollama_model not found (%s); not cached", exc)
        return
    answers = {}

    def is_static_ollama_model(model):
        key = (model, id(litellm.model_cost), len(litellm.model_cost))
        answer = answers.get(key)
        if answer is None:
            if len(answers) > 4096:  # models come from config: this only bounds the unexpected
                answers.clear()
            answer = answers[key] = original(model)
        return answer

    OllamaModelInfo._is_static_ollama_model = staticmethod(is_static_ollama_model)


def fail_otel_logger_import_once():
    if OTEL_LOGGER in sys.modules or importlib.util.find_spec("opentelemetry.sdk") is not None:
        return  # loaded already, or importable: nothing to spare
    sys.modules[OTEL_LOGGER] = None  # Python's marker for "not importable": ImportError at once


def serve_fresh_connections_at_shutdown():
    protocols = []
    for module, name in (("uvicorn.protocols.http.httptools_impl", "HttpToolsProtocol"),
                         ("uvicorn.protocols.http.h11_impl", "H11Protocol")):
        try:
            protocols.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue  # httptools not installed, or another uvicorn: that protocol is left as it is
    for protocol in protocols:
        original = protocol.shutdown
        if getattr(original, "_litellm_formula", False) or not all(
                hasattr(protocol, attr) for attr in ("connection_made", "on_response_complete")):
            continue

        def shutdown(self, _original=original):
            fresh = getattr(self, "cycle", None) is None and getattr(self, "timeout_keep_alive_task", 1) is None
            if fresh and getattr(self, "loop", None) is not None:
                self.loop.call_later(FRESH_CONNECTION_GRACE, _original, self)
            else:
                _original(self)

        shutdown._litellm_formula = True
        protocol.shutdown = shutdown
    if not protocols:
        log.warning("workarounds: no uvicorn HTTP protocol found; fresh connections are closed at shutdown")


class Workarounds(CustomLogger):
    """No hooks: LiteLLM needs a callback instance to load this module from config.yaml."""


cache_static_ollama_model_check()
fail_otel_logger_import_once()
serve_fresh_connections_at_shutdown()
workarounds = Workarounds()
