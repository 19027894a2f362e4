"""Backend scenarios: slow, saturated, hung, dead and flapping Ollama servers behind a proxy.

Shared by the integration tests (which assert the targets) and `make bench` (which runs them against
the formula and LiteLLM's CLI defaults side by side). A scenario gets two running stand-ins, `a` and
`b` (test/helpers.py Standin), and the proxy's port, key and model name; it shapes the stand-ins
with their busy and fault knobs, drives closed-loop clients (test/loadgen.py), and always puts the
stand-ins back (instant, running, not stopped) before it returns, even when it fails.
"""

import contextlib
import os
import signal
import threading
import time

import loadgen

INSTANT = {"num_parallel": 0, "max_queue": 512, "token_time": 0.0, "num_tokens": 0, "load_time": 0.0,
           "hang": False, "fail_status": 0}


def reset(*standins):
    for standin in standins:
        if standin.process is None:
            standin.start()
        else:
            os.kill(standin.process.pid, signal.SIGCONT)  # harmless when it was not stopped
        standin.knobs(**INSTANT)


@contextlib.contextmanager
def shaped(a, b, knobs_a, knobs_b):
    a.knobs(**knobs_a)
    b.knobs(**knobs_b)
    try:
        yield
    finally:
        reset(a, b)


def slow(port, key, model, a, b, seconds=30, clients=4):
    """Both alive, every generation 4 s (8 tokens x 0.5 s), 2 slots each: busy, not down."""
    knobs = {"num_parallel": 2, "token_time": 0.5, "num_tokens": 8}
    with shaped(a, b, knobs, knobs):
        return loadgen.run(port, key, model, clients, seconds, stream="mixed", timeout=60)


def saturated(port, key, model, a, b, seconds=20, clients=8):
    """`a` has one slot and room for one waiting request (2 s generations), so most of what it gets
    is Ollama's 503 "server busy"; `b` has room. A 503 must fail over to `b`."""
    with shaped(a, b, {"num_parallel": 1, "max_queue": 1, "token_time": 0.25, "num_tokens": 8},
                {"num_parallel": 8, "token_time": 0.05, "num_tokens": 8}):
        rejected = a.state()["rejected_busy"]
        summary = loadgen.run(port, key, model, clients, seconds, stream="mixed", timeout=60)
        summary.extra["a rejected (503)"] = a.state()["rejected_busy"] - rejected
        return summary


def full(port, key, model, a, b, seconds=20, clients=8):
    """Both backends have one slot and room for one waiting request (1 s generations): the fleet is
    over capacity, so some 503s are right. What must not happen is a model benched as a whole
    (HTTP 429 for everyone) because both backends answered 503 once."""
    knobs = {"num_parallel": 1, "max_queue": 1, "token_time": 0.125, "num_tokens": 8}
    with shaped(a, b, knobs, knobs):
        rejected = a.state()["rejected_busy"] + b.state()["rejected_busy"]
        summary = loadgen.run(port, key, model, clients, seconds, stream="mixed", timeout=60)
        summary.extra["503s from the backends"] = a.state()["rejected_busy"] + b.state()["rejected_busy"] - rejected
        return summary


def hung(port, key, model, a, b, seconds=30, clients=8, hang_after=3.0):
    """`b` is SIGSTOPped mid-run (the kernel still accepts connections; nothing answers) and stays
    stopped. Nothing may fail, and no client may wait much past the liveness bound."""
    knobs = {"num_parallel": 4, "token_time": 0.05, "num_tokens": 8}
    with shaped(a, b, knobs, knobs):
        timer = threading.Timer(hang_after, os.kill, (b.process.pid, signal.SIGSTOP))
        timer.start()
        try:
            return loadgen.run(port, key, model, clients, seconds, stream="mixed", timeout=30)
        finally:
            timer.cancel()


def dead(port, key, model, a, b, requests=1000):
    """`b` refuses connections (stopped); sequential plain requests right after it died."""
    b.stop()
    try:
        summary = loadgen.Summary()
        for _ in range(requests):
            started = time.monotonic()
            ok, what = loadgen.chat_once(port, key, model, False, 30)
            summary.outcomes.append(loadgen.Outcome(started, time.monotonic() - started, ok, what))
        return summary
    finally:
        reset(a, b)


def flapping(port, key, model, a, b, seconds=24, clients=8, period=2.0):
    """`b` dies and comes back every `period` seconds while clients stream and post (0.4 s answers)."""
    knobs = {"num_parallel": 4, "token_time": 0.05, "num_tokens": 8}
    stop = threading.Event()

    def flap():
        while not stop.wait(period):
            if b.process is None:
                b.start()
                b.knobs(**knobs)
            else:
                b.stop()

    with shaped(a, b, knobs, knobs):
        flapper = threading.Thread(target=flap, daemon=True)
        flapper.start()
        try:
            return loadgen.run(port, key, model, clients, seconds, stream="mixed", timeout=30)
        finally:
            stop.set()
            flapper.join()


ALL = {"slow": slow, "saturated": saturated, "full": full, "hung": hung, "dead": dead, "flapping": flapping}
