"""
Health checks over HTTP: the proxy, every Ollama backend, optional test completions, all at once,
shaped into one report with a verdict. Plain functions: tests call them against real servers.
"""

import functools
import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from .tls import client_context as tls_client_context
from .tls import presents as tls_presents

# What a check reads at most: a proxy's model list or an Ollama tag list is a few kB.
MAX_BODY = 1 << 20


def _abort(conn):
    # The whole request's deadline: wakes a read blocked on a server that trickles or never ends.
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def http_request(url, timeout, headers=None, body=None, cafile=None):
    """One HTTP request, bounded: at most ``timeout`` seconds in all and MAX_BODY bytes read, no
    redirect followed (a header such as the key never goes anywhere but ``url``), no proxy from the
    environment. Returns ``{status, body, latency_ms, error}``; whatever the other end sends (not
    HTTP, truncated, endless, huge), it never raises. ``cafile``: for https, trust only that
    certificate (the proxy's own, reached on loopback: the name is not checked)."""
    start = time.monotonic()
    result = {"status": None, "body": None, "latency_ms": None, "error": None}
    timer = None
    conn = None
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            context = tls_client_context(cafile) if cafile else ssl.create_default_context()
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
            if cafile:
                conn.connect()
                if not tls_presents(conn.sock, cafile):
                    result["error"] = f"the proxy presents another certificate than {cafile}"
                    return result
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        timer = threading.Timer(timeout, _abort, (conn,))
        timer.daemon = True
        timer.start()
        data = None if body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET" if data is None else "POST", path, body=data, headers=sent)
        response = conn.getresponse()
        payload = response.read(MAX_BODY + 1)
        result["status"] = response.status
        if len(payload) > MAX_BODY:
            result["error"] = f"answer larger than {MAX_BODY} bytes"
        else:
            result["body"] = payload
    except (OSError, http.client.HTTPException, ValueError) as exc:
        late = time.monotonic() - start >= timeout
        if late or isinstance(exc, socket.timeout):
            result["error"] = "timed out"
        else:
            result["error"] = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:200]
    finally:
        if timer is not None:
            timer.cancel()
        if conn is not None:
            conn.close()
    result["latency_ms"] = round((time.monotonic() - start) * 1000, 1)
    return result


def _json(body):
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _mapping(body):
    """The JSON object in ``body``, or {} for anything else (a list, a string, not JSON)."""
    value = _json(body)
    return value if isinstance(value, dict) else {}


def run_concurrently(calls, max_workers=64):
    """Run ``{key: (function, args...)}`` at once; returns ``{key: result}``.

    Every check has its own timeout, so the whole takes about the slowest one, not their sum.
    """
    if not calls:
        return {}
    with ThreadPoolExecutor(max_workers=min(max_workers, len(calls))) as pool:
        futures = {key: pool.submit(call[0], *call[1:]) for key, call in calls.items()}
        return {key: future.result() for key, future in futures.items()}


def bearer(master_key):
    return {"Authorization": f"Bearer {master_key}"}


# What the formula's probe listener (files/default/probes.py) puts in every answer.
PROBE_MARKER = "litellm-formula"


def probe_request(url, timeout):
    """A request to the formula's probe listener: a 200 without its marker is another program."""
    result = http_request(url, timeout)
    if result["status"] == 200 and _mapping(result["body"]).get("probes") != PROBE_MARKER:
        result = {**result, "status": None,
                  "error": f"{url} is not the formula's probe listener (another program holds the port?)"}
    return result


def proxy_calls(base_url, master_key, timeout, cafile=None, probe_url=None):
    """The proxy's checks; with ``master_key`` None (a proxy that is not the deployed one) no key is
    sent anywhere and the model list is not asked for. ``probe_url``: liveness and readiness from the
    formula's probe listener (plain HTTP) instead of the proxy's own endpoints."""
    request = functools.partial(http_request, cafile=cafile)
    probes = (probe_request, probe_url) if probe_url else (request, base_url)
    calls = {
        ("proxy", "liveliness"): (probes[0], f"{probes[1]}/health/liveliness", timeout),
        ("proxy", "readiness"): (probes[0], f"{probes[1]}/health/readiness", timeout),
    }
    if master_key is not None:
        calls[("proxy", "models")] = (request, f"{base_url}/v1/models", timeout, bearer(master_key))
    return calls


def _endpoint(result, ok):
    return {"ok": ok, "status": result["status"], "error": result["error"], "latency_ms": result["latency_ms"]}


def proxy_report(base_url, results, expected_models):
    """Shape the three proxy answers into a report with ``ok`` and one ``problem`` line."""
    live, ready = results[("proxy", "liveliness")], results[("proxy", "readiness")]
    listed = results.get(("proxy", "models"))
    if listed is None:  # the key was not sent: nothing to say about the models
        listed = {"status": None, "body": None, "error": "master key not sent", "latency_ms": None}
    data = _mapping(listed["body"]).get("data") if listed["status"] == 200 else None
    served = sorted(str(item.get("id")) for item in (data if isinstance(data, list) else [])
                    if isinstance(item, dict))
    missing = sorted(set(expected_models) - set(served))
    if ("proxy", "models") not in results:
        auth = "not sent"
    elif listed["status"] == 200:
        auth = "accepted"
    elif listed["status"] in (400, 401, 403):
        # Without a database LiteLLM answers 400 (not 401) for a wrong key.
        auth = "rejected"
    else:
        auth = "unknown"
    report = {
        "url": base_url,
        "liveliness": _endpoint(live, live["status"] == 200),
        "readiness": _endpoint(ready, ready["status"] == 200),
        "models": {**_endpoint(listed, auth == "not sent" or (listed["status"] == 200 and not missing)),
                   "auth": auth, "served": served, "missing": [] if auth == "not sent" else missing},
    }
    report["ok"] = all(report[part]["ok"] for part in ("liveliness", "readiness", "models"))
    report["problem"] = None if report["ok"] else describe_proxy_problem(report)
    return report


def check_proxy(base_url, master_key, expected_models, timeout=5, cafile=None, probe_url=None):
    """Check a proxy: liveliness, readiness and /v1/models with the key (listing every model).

    Returns a dict with ``ok`` and per-endpoint detail; the key never appears in it.
    """
    return proxy_report(base_url, run_concurrently(proxy_calls(base_url, master_key, timeout, cafile, probe_url)),
                        expected_models)


def backend_calls(backends, timeout):
    calls = {}
    for url in backends:
        calls[("backend", url, "version")] = (http_request, f"{url}/api/version", timeout)
        calls[("backend", url, "tags")] = (http_request, f"{url}/api/tags", timeout)
    return calls


def _tag_present(tag, available):
    # Ollama lists "name:tag"; a tag asked for without ":latest" means ":latest".
    return tag in available or (":" not in tag and f"{tag}:latest" in available)


def backend_report(url, results, wanted_tags):
    version, tags = results[("backend", url, "version")], results[("backend", url, "tags")]
    answered = _mapping(version["body"]).get("version") if version["status"] == 200 else None
    up = isinstance(answered, str) and tags["status"] == 200
    listed = _mapping(tags["body"]).get("models") if tags["status"] == 200 else []
    listed = listed if isinstance(listed, list) else []
    available = {m.get("name") for m in listed if isinstance(m, dict)} | \
                {m.get("model") for m in listed if isinstance(m, dict)}
    present = {tag: _tag_present(tag, available) for tag in sorted(wanted_tags)} if up else {}
    error = version["error"] or tags["error"]
    if not error and not up:
        if version["status"] == 200 and tags["status"] == 200:
            error = "not an Ollama API: /api/version answered without a version"
        else:
            error = f"HTTP {version['status']} from /api/version, {tags['status']} from /api/tags"
    return {
        "up": up,
        "version": answered if up else None,
        "latency_ms": version["latency_ms"],
        "error": error,
        "models": present,
        "missing": sorted(tag for tag, ok in present.items() if not ok),
    }


def completion_calls(base_url, master_key, model_names, timeout, cafile=None):
    request = functools.partial(http_request, cafile=cafile)
    calls = {}
    for name in model_names:
        body = {"model": name, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1,
                "timeout": timeout}
        calls[("completion", name)] = (request, f"{base_url}/v1/chat/completions", timeout + 1,
                                       bearer(master_key), body)
    return calls


def completion_report(result):
    if result["status"] == 200:
        choices = _mapping(result["body"]).get("choices")
        ok = isinstance(choices, list) and bool(choices) and isinstance(choices[0], dict)
        return {"ok": ok, "status": 200, "latency_ms": result["latency_ms"], "error": None if ok else "no choices"}
    error = result["error"]
    if not error:
        detail = _mapping(result["body"]).get("error") or {}
        message = detail.get("message", "") if isinstance(detail, dict) else detail
        error = f"HTTP {result['status']}: " + str(message)[:200]
    return {"ok": False, "status": result["status"], "latency_ms": result["latency_ms"], "error": error}


def health_report(base_url, master_key, model_map, model_tags, timeout=5, deep=False, cafile=None, probe_url=None):
    """Check the proxy, every backend and (deep) one completion per model, all at once.

    ``model_map``: {model name: [backend URLs]}; ``model_tags``: {model name: Ollama tag}.
    Returns the structured result of ``litellm.health``; the key never appears in it.
    """
    start = time.monotonic()
    backends = sorted({url for urls in model_map.values() for url in urls})
    calls = {**proxy_calls(base_url, master_key, timeout, cafile, probe_url), **backend_calls(backends, timeout)}
    if deep:
        calls.update(completion_calls(base_url, master_key, sorted(model_map), timeout, cafile))
    results = run_concurrently(calls)
    proxy = proxy_report(base_url, results, list(model_map))
    wanted = {url: {model_tags[name] for name, urls in model_map.items() if url in urls} for url in backends}
    backend_detail = {url: backend_report(url, results, wanted[url]) for url in backends}
    models_detail = {}
    for name, urls in model_map.items():
        states = {}
        for url in urls:
            detail = backend_detail[url]
            states[url] = "ok" if detail["up"] and detail["models"].get(model_tags[name]) else (
                "model missing" if detail["up"] else "down")
        entry = {
            "tag": model_tags[name],
            "served_by_proxy": name in proxy["models"]["served"],
            "backends_up": sum(1 for state in states.values() if state == "ok"),
            "backends_total": len(urls),
            "backends": states,
        }
        if deep:
            entry["completion"] = completion_report(results[("completion", name)])
        models_detail[name] = entry
    report = {"proxy": proxy, "backends": backend_detail, "models": models_detail}
    report.update(health_verdict(report))
    report["duration_ms"] = round((time.monotonic() - start) * 1000, 1)
    return report


def health_verdict(report):
    """``{healthy, status, summary}`` from a report: unhealthy when the gateway cannot serve a model,
    degraded when it can but a backend is down or lacks a model."""
    proxy, backends, models_ = report["proxy"], report["backends"], report["models"]
    problems, warnings = [], []
    if not proxy["ok"]:
        problems.append(proxy["problem"])
    for name, model in sorted(models_.items()):
        if model["backends_up"] == 0:
            problems.append(f"model {name}: no backend can serve it")
        if "completion" in model and not model["completion"]["ok"]:
            problems.append(f"model {name}: test completion failed ({model['completion']['error']})")
    down = sorted(url for url, detail in backends.items() if not detail["up"])
    for url in down:
        warnings.append(f"backend {url} down ({backends[url]['error']})")
    for url, detail in sorted(backends.items()):
        for tag in detail["missing"]:
            warnings.append(f"backend {url} lacks model {tag}")
    status = "unhealthy" if problems else "degraded" if warnings else "healthy"
    up = len(backends) - len(down)
    fully = sum(1 for m in models_.values() if m["backends_up"] == m["backends_total"])
    summary = (f"{status}: proxy {'ok' if proxy['ok'] else 'FAILING'}, backends {up}/{len(backends)} up, "
               f"models {fully}/{len(models_)} on all their backends")
    if problems or warnings:
        summary += "; " + "; ".join(problems + warnings)
    return {"healthy": status != "unhealthy", "status": status, "summary": summary}


def describe_proxy_problem(report):
    """One line saying why a proxy report is not ok."""
    if not report["liveliness"]["ok"]:
        live = report["liveliness"]
        return f"proxy at {report['url']} does not answer: {live['error'] or 'HTTP ' + str(live['status'])}"
    if not report["readiness"]["ok"]:
        return f"proxy at {report['url']} is not ready (HTTP {report['readiness']['status']})"
    models_ = report["models"]
    if models_["auth"] == "rejected":
        return f"proxy at {report['url']} rejects the master key from the environment file (HTTP {models_['status']})"
    if models_["status"] != 200:
        return f"/v1/models failed: {models_['error'] or 'HTTP ' + str(models_['status'])}"
    return "models not served: " + ", ".join(models_["missing"])



JOURNAL_ERROR_RE = re.compile(r"error|errno|traceback|exception|failed", re.IGNORECASE)


def error_lines(text, keep=8, whole_lines=False):
    """The last ``keep`` distinct journal lines that look like errors, oldest first. ``whole_lines``
    for text without a "host pid: " prefix (``journalctl -o cat``), where the part before ": " is
    the exception's name ("TypeError: ...")."""
    found, seen = [], set()
    for line in text.splitlines():
        message = line if whole_lines else line.split(": ", 1)[-1]  # without the timestamp, host and PID
        if JOURNAL_ERROR_RE.search(message) and message not in seen:
            seen.add(message)
            found.append(line)
    return "\n".join(found[-keep:])
