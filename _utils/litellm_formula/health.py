"""
Health checks over HTTP: the proxy, every Ollama backend, optional test completions, all at once,
shaped into one report with a verdict. Plain functions: tests call them against real servers.
"""

import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

# Never through an HTTP proxy from the environment: every target is a host the formula configured.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(url, timeout, headers=None, body=None):
    """One HTTP request. Returns ``{status, body, latency_ms, error}``; never raises for HTTP errors."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    start = time.monotonic()
    result = {"status": None, "body": None, "latency_ms": None, "error": None}
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            result["status"] = response.status
            result["body"] = response.read()
    except urllib.error.HTTPError as exc:
        result["status"] = exc.code
        result["body"] = exc.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        result["error"] = "timed out" if "timed out" in str(reason) else str(reason)
    result["latency_ms"] = round((time.monotonic() - start) * 1000, 1)
    return result


def _json(body):
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


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


def proxy_calls(base_url, master_key, timeout):
    return {
        ("proxy", "liveliness"): (http_request, f"{base_url}/health/liveliness", timeout),
        ("proxy", "readiness"): (http_request, f"{base_url}/health/readiness", timeout),
        ("proxy", "models"): (http_request, f"{base_url}/v1/models", timeout, bearer(master_key)),
    }


def _endpoint(result, ok):
    return {"ok": ok, "status": result["status"], "error": result["error"], "latency_ms": result["latency_ms"]}


def proxy_report(base_url, results, expected_models):
    """Shape the three proxy answers into a report with ``ok`` and one ``problem`` line."""
    live, ready, listed = (results[("proxy", part)] for part in ("liveliness", "readiness", "models"))
    data = (_json(listed["body"]) or {}).get("data") if listed["status"] == 200 else None
    served = sorted(item.get("id") for item in data or [] if isinstance(item, dict))
    missing = sorted(set(expected_models) - set(served))
    if listed["status"] == 200:
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
        "models": {**_endpoint(listed, listed["status"] == 200 and not missing), "auth": auth, "served": served,
                   "missing": missing},
    }
    report["ok"] = all(report[part]["ok"] for part in ("liveliness", "readiness", "models"))
    report["problem"] = None if report["ok"] else describe_proxy_problem(report)
    return report


def check_proxy(base_url, master_key, expected_models, timeout=5):
    """Check a proxy: liveliness, readiness and /v1/models with the key (listing every model).

    Returns a dict with ``ok`` and per-endpoint detail; the key never appears in it.
    """
    return proxy_report(base_url, run_concurrently(proxy_calls(base_url, master_key, timeout)), expected_models)


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
    up = version["status"] == 200 and tags["status"] == 200
    listed = (_json(tags["body"]) or {}).get("models") or [] if tags["status"] == 200 else []
    available = {m.get("name") for m in listed if isinstance(m, dict)} | \
                {m.get("model") for m in listed if isinstance(m, dict)}
    present = {tag: _tag_present(tag, available) for tag in sorted(wanted_tags)} if up else {}
    error = version["error"] or tags["error"]
    if not error and not up:
        error = f"HTTP {version['status']} from /api/version, {tags['status']} from /api/tags"
    return {
        "up": up,
        "version": (_json(version["body"]) or {}).get("version") if version["status"] == 200 else None,
        "latency_ms": version["latency_ms"],
        "error": error,
        "models": present,
        "missing": sorted(tag for tag, ok in present.items() if not ok),
    }


def completion_calls(base_url, master_key, model_names, timeout):
    calls = {}
    for name in model_names:
        body = {"model": name, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1,
                "timeout": timeout}
        calls[("completion", name)] = (http_request, f"{base_url}/v1/chat/completions", timeout + 1,
                                       bearer(master_key), body)
    return calls


def completion_report(result):
    if result["status"] == 200:
        choices = (_json(result["body"]) or {}).get("choices") or []
        ok = bool(choices) and isinstance(choices[0], dict)
        return {"ok": ok, "status": 200, "latency_ms": result["latency_ms"], "error": None if ok else "no choices"}
    error = result["error"]
    if not error:
        detail = (_json(result["body"]) or {}).get("error") or {}
        message = detail.get("message", "") if isinstance(detail, dict) else detail
        error = f"HTTP {result['status']}: " + str(message)[:200]
    return {"ok": False, "status": result["status"], "latency_ms": result["latency_ms"], "error": error}


def health_report(base_url, master_key, model_map, model_tags, timeout=5, deep=False):
    """Check the proxy, every backend and (deep) one completion per model, all at once.

    ``model_map``: {model name: [backend URLs]}; ``model_tags``: {model name: Ollama tag}.
    Returns the structured result of ``litellm.health``; the key never appears in it.
    """
    start = time.monotonic()
    backends = sorted({url for urls in model_map.values() for url in urls})
    calls = {**proxy_calls(base_url, master_key, timeout), **backend_calls(backends, timeout)}
    if deep:
        calls.update(completion_calls(base_url, master_key, sorted(model_map), timeout))
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


def error_lines(text, keep=8):
    """The last ``keep`` distinct journal lines that look like errors, oldest first."""
    found, seen = [], set()
    for line in text.splitlines():
        message = line.split(": ", 1)[-1]  # without the timestamp, host and PID
        if JOURNAL_ERROR_RE.search(message) and message not in seen:
            seen.add(message)
            found.append(line)
    return "\n".join(found[-keep:])
