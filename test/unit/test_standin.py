"""The Ollama stand-in behaves like a busy Ollama server when asked to, and stays instant when not.

Each test starts its own stand-in in this process (port 0, a serving thread) with the knobs it needs.
Timings are chosen so that the behaviour under test moves a figure by hundreds of milliseconds,
while the tolerances allow tens: a 2-core machine running other suites must not make them flaky.
Progress is observed through GET /_standin (waiting, running, loads, ...) rather than by sleeping,
so that the order in which requests arrive is known, not hoped for.
"""

import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import ollama_standin as standin
import pytest
from helpers import http

MODEL = "phi3:3.8b-mini-128k-instruct-q8_0"
OTHER = "llama3.2:1b"
THIRD = "qwen2.5:0.5b"
TOKENS = standin.GREETING_TOKENS  # an answer's length when nothing asks otherwise
BUSY_BODY = {"error": "server busy, please try again.  maximum pending requests exceeded"}  # Ollama's, verbatim


@pytest.fixture
def serve():
    """Start a stand-in with the given knobs; returns its URL. All are shut down after the test."""
    running = []

    def start(**knobs):
        server = standin.make_server("127.0.0.1", 0, standin.Knobs("unit", [MODEL, OTHER, THIRD], **knobs))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(5)


def state(url):
    return json.loads(http("GET", f"{url}/_standin")[2])


def wait_until(url, predicate, timeout=3.0):
    """Poll GET /_standin until PREDICATE holds; its state then."""
    deadline = time.monotonic() + timeout
    while True:
        current = state(url)
        if predicate(current):
            return current
        assert time.monotonic() < deadline, f"stand-in never reached the expected state: {current}"
        time.sleep(0.005)


def chat(url, model=MODEL, content="hi there", **fields):
    """POST /api/chat (not streamed unless asked); (status, parsed body, seconds taken)."""
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": False, **fields}
    start = time.monotonic()
    status, _, raw = http("POST", f"{url}/api/chat", body, timeout=10)
    elapsed = time.monotonic() - start
    return status, (json.loads(raw.splitlines()[-1]) if raw else None), elapsed


def timed(method, url, body=None):
    start = time.monotonic()
    status, _, raw = http(method, url, body, timeout=5)
    return status, raw, time.monotonic() - start


class Background:
    """Requests run in threads, each result recorded with the time it came back (from the creation of this)."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.results = {}
        self.threads = []

    def start(self, key, call, *args, **kwargs):
        def run():
            result = call(*args, **kwargs)
            self.results[key] = (time.monotonic() - self.t0, *result)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self):
        for thread in self.threads:
            thread.join(10)
        assert len(self.results) == len(self.threads), "a background request never came back"
        return self.results


def parse_expiry(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the default stays instant --------------------------------------------------------------------------------


def test_default_answers_at_once_with_the_same_greeting(serve):
    url = serve()
    took = []
    for _ in range(3):
        status, body, elapsed = chat(url)
        assert status == 200
        assert body["message"]["content"] == f"Hello from unit: {MODEL} answers 2 prompt words."
        assert body["eval_count"] == TOKENS and body["done_reason"] == "stop"
        took.append(elapsed)
        for path, payload in [
            ("/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}),  # streamed
            ("/api/generate", {"model": MODEL, "prompt": "x", "stream": False}),
            ("/api/embed", {"model": MODEL, "input": ["a", "b"]}),
        ]:
            status, _, elapsed = timed("POST", url + path, payload)
            assert status == 200
            took.append(elapsed)
    took.sort()
    # Many tests rely on the stand-in costing nothing; half of the requests well under 50 ms, none slow.
    assert took[len(took) // 2] < 0.05, took
    assert took[-1] < 0.5, took
    after = state(url)
    assert (after["loads"], after["generations"], after["rejected_busy"]) == (1, 12, 0)


def test_default_has_no_limit_on_concurrency(serve):
    url = serve(token_time=0.3 / TOKENS)  # each answer takes ~0.3 s
    background = Background()
    for i in range(4):
        background.start(i, chat, url)
    results = background.join()
    assert all(status == 200 for _, status, _, _ in results.values())
    # One after another would take 1.2 s: all four ran side by side.
    assert max(done for done, *_ in results.values()) < 0.75, results


# --- slots and the queue --------------------------------------------------------------------------------------


def test_one_slot_serves_requests_one_after_another_in_arrival_order(serve):
    url = serve(num_parallel=1, token_time=0.3 / TOKENS)
    background = Background()
    for i, key in enumerate("abc"):
        background.start(key, chat, url)
        # The next one is sent only once this one is in, so the arrival order is known.
        wait_until(url, lambda s, n=i + 1: s["running"] + s["waiting"] == n)
    assert state(url)["running"] == 1
    results = background.join()
    done = [results[key][0] for key in "abc"]
    assert all(results[key][1] == 200 for key in "abc")
    assert done == sorted(done), f"not first come first served: {done}"
    assert 0.27 < done[0] < 0.7, done
    for earlier, later in zip(done, done[1:]):
        assert 0.2 < later - earlier < 0.7, done  # ~0.3 s apart: one slot, each holding it ~0.3 s
    # Ollama's figures are the real ones: the generation took ~0.3 s, the last request ~0.9 s overall.
    last = results["c"][2]
    assert 0.25e9 < last["eval_duration"] < 0.7e9, last
    assert last["total_duration"] > 0.7e9, last
    assert last["eval_count"] == TOKENS


def test_a_full_queue_answers_503_at_once_and_the_queued_still_succeed(serve):
    url = serve(num_parallel=1, max_queue=1, token_time=0.3 / TOKENS)
    background = Background()
    background.start("running", chat, url)
    wait_until(url, lambda s: s["running"] == 1)
    background.start("queued", chat, url)
    wait_until(url, lambda s: s["waiting"] == 1)

    status, body, elapsed = chat(url)
    assert (status, body) == (503, BUSY_BODY)
    assert elapsed < 0.15  # rejected at once, not after waiting
    status, _, raw = http("POST", f"{url}/api/chat", {"model": MODEL, "messages": []}, timeout=5)  # streamed
    assert (status, json.loads(raw)) == (503, BUSY_BODY)
    status, _, raw = http("POST", f"{url}/api/embed", {"model": MODEL, "input": "x"}, timeout=5)
    assert (status, json.loads(raw)) == (503, BUSY_BODY)

    results = background.join()
    assert results["running"][1] == 200 and results["queued"][1] == 200
    after = state(url)
    assert (after["rejected_busy"], after["generations"]) == (3, 2)


def test_max_queue_0_makes_every_generation_busy_while_probes_answer(serve):
    url = serve(max_queue=0)
    assert chat(url)[:2] == (503, BUSY_BODY)
    assert http("GET", f"{url}/api/version")[0] == 200
    assert state(url)["loads"] == 0


def test_probes_never_wait_for_slots_or_loads_and_never_load(serve):
    url = serve(num_parallel=1, token_time=0.5 / TOKENS)
    background = Background()
    background.start("chat", chat, url)
    wait_until(url, lambda s: s["running"] == 1)
    # Embeddings take a slot too: this one waits for the chat.
    background.start("embed", timed, "POST", f"{url}/api/embed", {"model": MODEL, "input": "some words"})
    wait_until(url, lambda s: s["waiting"] == 1)

    for method, path, body in [
        ("GET", "/api/version", None),
        ("GET", "/api/tags", None),
        ("POST", "/api/show", {"model": OTHER}),  # a model not loaded: showing it must not load it
        ("GET", "/api/ps", None),
        ("GET", "/", None),
    ]:
        status, _, elapsed = timed(method, url + path, body)
        assert status == 200, path
        assert elapsed < 0.1, f"{path} took {elapsed:.3f}s while the slot was busy"
    busy = state(url)
    assert (busy["running"], busy["waiting"]) == (1, 1), "the probes ran while the slot was still busy"
    assert (busy["loads"], busy["loaded"]) == (1, [MODEL])

    results = background.join()
    assert results["embed"][1] == 200
    assert results["embed"][0] > 0.45  # it got the slot only after the ~0.5 s chat
    assert state(url)["loads"] == 1


# --- loading, keep_alive and eviction ------------------------------------------------------------------------


def test_load_time_is_paid_on_first_use_and_again_after_keep_alive(serve):
    url = serve(load_time=0.3, keep_alive=0.5)
    status, first, elapsed = chat(url)
    assert status == 200 and elapsed > 0.28
    assert first["load_duration"] > 0.28e9, first
    status, second, elapsed = chat(url)
    assert status == 200 and elapsed < 0.15  # loaded now
    assert second["load_duration"] < 0.05e9, second
    assert state(url)["loads"] == 1

    models = json.loads(http("GET", f"{url}/api/ps")[2])["models"]
    assert [m["name"] for m in models] == [MODEL]
    assert set(models[0]) >= {"name", "model", "size", "digest", "details", "expires_at", "size_vram"}
    left = (parse_expiry(models[0]["expires_at"]) - datetime.now(timezone.utc)).total_seconds()
    assert 0 < left <= 0.6, models[0]["expires_at"]

    time.sleep(0.7)  # idle longer than keep_alive: unloaded
    idle = state(url)
    assert (idle["loaded"], idle["unloads"]) == ([], 1)
    assert json.loads(http("GET", f"{url}/api/ps")[2]) == {"models": []}
    status, third, elapsed = chat(url)
    assert status == 200 and elapsed > 0.28  # loads again
    assert state(url)["loads"] == 2


def test_a_request_keep_alive_as_ollama_reads_it(serve):
    url = serve()
    assert chat(url, keep_alive=0)[0] == 200
    assert state(url)["loaded"] == []  # 0: unloaded as soon as the request is done

    assert chat(url, keep_alive="1h")[0] == 200
    (model,) = json.loads(http("GET", f"{url}/api/ps")[2])["models"]
    left = parse_expiry(model["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)

    assert chat(url, keep_alive=-1)[0] == 200
    assert chat(url)[0] == 200  # no keep_alive: the model keeps the one it has (forever), as in Ollama
    (model,) = json.loads(http("GET", f"{url}/api/ps")[2])["models"]
    assert parse_expiry(model["expires_at"]).year > 2200

    assert chat(url, keep_alive="200ms")[0] == 200
    time.sleep(0.3)
    assert state(url)["loaded"] == []

    assert chat(url, keep_alive="soon")[:2] == (400, {"error": 'time: invalid duration "soon"'})
    assert chat(url, keep_alive="300")[:2] == (400, {"error": 'time: missing unit in duration "300"'})


def test_max_loaded_models_evicts_the_least_recently_used_idle_model(serve):
    url = serve(max_loaded_models=2)
    for model in (MODEL, OTHER, MODEL):  # OTHER is now the least recently used
        assert chat(url, model=model)[0] == 200
    assert state(url)["loaded"] == sorted([MODEL, OTHER])
    assert chat(url, model=THIRD)[0] == 200
    after = state(url)
    assert after["loaded"] == sorted([MODEL, THIRD])
    assert (after["loads"], after["evictions"]) == (3, 1)


def test_with_no_idle_model_to_evict_a_load_waits(serve):
    url = serve(max_loaded_models=1, token_time=0.5 / TOKENS)
    background = Background()
    background.start("busy", chat, url, model=MODEL)
    wait_until(url, lambda s: s["running"] == 1)
    status, body, elapsed = chat(url, model=OTHER)
    assert status == 200
    assert elapsed > 0.35, "loaded a second model while the only allowed one was busy"
    assert body["load_duration"] > 0.3e9  # Ollama counts the wait for room as loading
    assert background.join()["busy"][1] == 200
    after = state(url)
    assert (after["loaded"], after["evictions"], after["loads"]) == ([OTHER], 1, 2)


# --- streaming --------------------------------------------------------------------------------------------------


def open_stream(url, content="one two three", stream=True):
    """Send a /api/chat on a raw socket (to see exactly when the first byte comes, or to hang up)."""
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    message = {"role": "user", "content": content}
    body = json.dumps({"model": MODEL, "messages": [message], "stream": stream}).encode()
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def read_stream(sock, on_first_bytes=None):
    """The whole answer, and when (monotonic) its first and its last bytes came."""
    data, first = b"", None
    while not data.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed early: {data!r}"
        if first is None:
            first = time.monotonic()
            if on_first_bytes:
                on_first_bytes()
        data += chunk
    sock.close()
    return data, first, time.monotonic()


def assert_silent(sock, seconds):
    """Not a byte, not even a status line, comes on SOCK for SECONDS."""
    sock.settimeout(seconds)
    with pytest.raises(socket.timeout):
        sock.recv(1)
    sock.settimeout(5)


def test_streaming_sends_nothing_until_loaded_and_in_a_slot_then_token_by_token(serve):
    url = serve(num_parallel=1, load_time=0.3, token_time=0.4 / TOKENS)  # load 0.3 s, then 0.4 s of tokens
    sent = time.monotonic()
    first = open_stream(url)
    wait_until(url, lambda s: s["waiting"] == 1)  # waiting for the load
    second = open_stream(url)
    wait_until(url, lambda s: s["waiting"] == 2)
    assert_silent(first, 0.1)  # while the model loads
    assert_silent(second, 0.05)

    # While the first streams, the second (waiting for the slot) still gets nothing.
    data, first_byte, last_byte = read_stream(first, on_first_bytes=lambda: assert_silent(second, 0.1))
    assert data.startswith(b"HTTP/1.1 200"), data[:80]
    assert b"application/x-ndjson" in data
    assert first_byte - sent > 0.3  # the load, then the first token
    assert last_byte - first_byte > 0.2  # the other tokens followed as they were made (~0.35 s), not at once
    final = json.loads([line for line in data.split(b"\r\n") if line.startswith(b"{")][-1])
    assert final["done"] is True and final["eval_count"] == TOKENS and final["prompt_eval_count"] == 3
    assert final["load_duration"] > 0.28e9 and final["eval_duration"] > 0.35e9, final

    data, second_first_byte, _ = read_stream(second)
    assert data.startswith(b"HTTP/1.1 200")
    assert second_first_byte - sent > 0.7  # its first token came after the load and the whole first answer


def test_a_client_that_hangs_up_leaves_the_queue_and_frees_its_slot(serve):
    # As in Ollama, where a request's context ends with its connection: a client that timed out must not
    # leave work behind that delays everyone after it.
    url = serve(num_parallel=1, token_time=0.8 / TOKENS)
    running = open_stream(url, stream=False)  # not streamed: nothing is written that could fail earlier
    wait_until(url, lambda s: s["running"] == 1)
    queued = open_stream(url)
    wait_until(url, lambda s: s["waiting"] == 1)
    queued.close()
    wait_until(url, lambda s: s["waiting"] == 0, timeout=0.3)  # out of the queue, while the slot is still busy
    assert state(url)["running"] == 1
    running.close()
    after = wait_until(url, lambda s: s["running"] == 0, timeout=0.3)  # stopped, long before its 0.8 s
    assert after["generations"] == 0
    http("POST", f"{url}/_standin", {"token_time": 0})
    assert chat(url)[0] == 200
    assert state(url)["generations"] == 1


# --- answer length and timing knobs ---------------------------------------------------------------------------


def test_num_predict_num_tokens_and_prompt_time(serve):
    url = serve(token_time=0.02)
    status, body, elapsed = chat(url, options={"num_predict": 3})
    assert (status, body["eval_count"], body["message"]["content"]) == (200, 3, "Hello from unit:")
    assert elapsed < 0.15
    assert chat(url, options={"num_predict": 0})[1]["eval_count"] == TOKENS  # 0 is unlimited in Ollama, not 0

    http("POST", f"{url}/_standin", {"num_tokens": 20, "prompt_time": 0.05})
    status, body, elapsed = chat(url, content="a b c d", options={"num_predict": -1})
    assert body["eval_count"] == 20
    assert body["message"]["content"].startswith("Hello from unit:")
    assert 0.18e9 < body["prompt_eval_duration"] < 0.4e9, body  # 4 prompt tokens at 0.05 s
    assert 0.38e9 < body["eval_duration"] < 0.8e9, body  # 20 tokens at 0.02 s
    assert elapsed > 0.55
    assert chat(url, content="", options={"num_predict": 5})[1]["eval_count"] == 5


# --- knobs -----------------------------------------------------------------------------------------------------


def test_knobs_from_ollama_environment_variables_the_command_line_wins(capsys):
    environ = {
        "OLLAMA_NUM_PARALLEL": "2",
        "OLLAMA_MAX_QUEUE": "7",
        "OLLAMA_KEEP_ALIVE": "30s",
        "OLLAMA_MAX_LOADED_MODELS": "many",
    }
    _, knobs = standin.parse_args(["--num-parallel", "4", "--load-time", "1.5"], environ)
    busy = knobs.snapshot()
    assert (busy["num_parallel"], busy["max_queue"], busy["keep_alive"]) == (4, 7, 30.0)
    assert (busy["load_time"], busy["max_loaded_models"]) == (1.5, 0)  # a bad variable is ignored, as in Ollama
    assert "OLLAMA_MAX_LOADED_MODELS" in capsys.readouterr().err
    _, knobs = standin.parse_args([], {"OLLAMA_KEEP_ALIVE": "120"})  # Ollama also takes plain seconds
    assert knobs.keep_alive == 120.0
    _, knobs = standin.parse_args(["--keep-alive", "-1"], {})
    assert (knobs.keep_alive, knobs.max_queue, knobs.num_parallel) == (-1.0, 512, 0)


def test_knobs_at_run_time(serve):
    url = serve()
    status, _, raw = http("POST", f"{url}/_standin", {"num_parallel": 2, "keep_alive": "10m", "token_time": 0.01})
    assert status == 200
    assert {k: json.loads(raw)[k] for k in ("num_parallel", "keep_alive", "token_time")} == {
        "num_parallel": 2,
        "keep_alive": 600.0,
        "token_time": 0.01,
    }
    for bad in ({"num_parallel": -1}, {"num_parallel": 1.5}, {"load_time": "slow"}, {"keep_alive": True}):
        status, _, raw = http("POST", f"{url}/_standin", {"max_queue": 3, **bad})
        assert status == 400, bad
        assert next(iter(bad)) in json.loads(raw)["error"]
    assert state(url)["max_queue"] == 512  # a rejected change changes nothing
    assert {"requests", "generations", "rejected_busy", "loads", "evictions", "loaded"} <= set(state(url))


def test_fault_knobs_come_before_the_scheduler(serve):
    url = serve(hang=True)
    for path in ("/", "/api/version"):
        with pytest.raises(OSError):  # a hung process answers nothing, not even GET /
            http("GET", url + path, timeout=0.3)
    http("POST", f"{url}/_standin", {"hang": False, "fail_status": 500})
    assert chat(url)[0] == 500
    http("POST", f"{url}/_standin", {"fail_status": 0, "delay": 0.2})
    status, _, elapsed = chat(url)
    assert status == 200 and elapsed > 0.18
    assert state(url)["loads"] == 1  # the failed request never reached the scheduler
