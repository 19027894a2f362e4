"""Closed-loop chat clients for failover scenarios (tests and `make bench`).

Each client sends one chat completion at a time (plain or streamed) for a while, with a client-side
timeout, and records how each ended. Unlike wrk this reads every answer, so a stream that breaks in
the middle or an answer from the wrong model counts as a failure, and the longest wait is exact.
"""

import http.client
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Outcome:
    started: float
    seconds: float
    ok: bool
    what: str  # "ok", "HTTP 429", "timeout", "broken stream", ...


@dataclass
class Summary:
    outcomes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # scenario facts worth a column, e.g. 503s seen

    @property
    def sent(self):
        return len(self.outcomes)

    @property
    def failed(self):
        return [o for o in self.outcomes if not o.ok]

    @property
    def longest(self):
        return max((o.seconds for o in self.outcomes), default=0.0)

    def errors(self):
        counts = {}
        for outcome in self.failed:
            counts[outcome.what] = counts.get(outcome.what, 0) + 1
        return counts

    def line(self):
        errors = ", ".join(f"{what}: {n}" for what, n in sorted(self.errors().items())) or "none"
        return f"{len(self.failed)}/{self.sent} failed (longest wait {self.longest:.1f} s; errors: {errors})"


def chat_once(port, key, model, stream, timeout, host="127.0.0.1", tls=None):
    """One chat completion (over https with the ssl context ``tls``); returns (ok, what)."""
    body = json.dumps({"model": model, "stream": stream,
                       "messages": [{"role": "user", "content": "Say hello in five words."}]})
    conn = (http.client.HTTPSConnection(host, port, timeout=timeout, context=tls) if tls
            else http.client.HTTPConnection(host, port, timeout=timeout))
    try:
        conn.request("POST", "/v1/chat/completions", body=body,
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            return False, f"HTTP {response.status}"
        if not stream:
            text = json.loads(data)["choices"][0]["message"]["content"]
            return (bool(text), "ok" if text else "empty answer")
        lines = [line for line in data.decode().splitlines() if line.startswith("data: ")]
        if not lines or lines[-1] != "data: [DONE]":
            return False, "broken stream"
        if any('"error"' in line for line in lines):
            return False, "error in stream"
        return True, "ok"
    except TimeoutError:
        return False, "timeout"
    except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError) as exc:
        return False, type(exc).__name__
    finally:
        conn.close()


def run(port, key, model, clients, seconds, stream=False, timeout=30.0, pause_after_failure=0.1, stop=None,
        tls=None, limit=None):
    """``clients`` closed-loop clients for ``seconds`` (or until the event ``stop`` is set, or
    ``limit`` requests were sent, if sooner); returns a Summary."""
    summary = Summary()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    stop = stop or threading.Event()
    started_count = [0]

    def claim():
        with lock:
            if limit is not None and started_count[0] >= limit:
                return False
            started_count[0] += 1
            return True

    def client(index):
        streaming = stream if stream in (True, False) else index % 2 == 1  # "mixed": half of each
        while time.monotonic() < deadline and not stop.is_set() and claim():
            started = time.monotonic()
            ok, what = chat_once(port, key, model, streaming, timeout, tls=tls)
            outcome = Outcome(started, time.monotonic() - started, ok, what)
            with lock:
                summary.outcomes.append(outcome)
            if not ok:
                time.sleep(pause_after_failure)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout + 5)
    return summary
