#!/usr/bin/env python3
"""A stand-in for an Ollama server, speaking Ollama's documented HTTP API.

No Ollama binary or model weights can be had here, so tests, the demo and the benchmarks run
LiteLLM against this. It implements the endpoints LiteLLM and the formula use, with Ollama's
shapes: ``GET /``, ``/api/version``, ``/api/tags``, ``POST /api/show``, ``/api/chat`` and
``/api/generate`` (NDJSON streaming by default, ``"stream": false`` for one JSON object),
``/api/embed`` and the older ``/api/embeddings``. Unknown models get Ollama's 404
``{"error": "model '...' not found"}``.

Every answer says which instance produced it (``--name``): in the generated text and in the
``X-Standin-Instance`` header.

Fault knobs, from the command line or at run time with ``POST /_standin`` (JSON, same names):
  fail_status   answer every /api call with this HTTP status (e.g. 500); 0 = off
  delay         seconds to wait before answering (slow backend)
  hang          accept and never answer (until the knob is turned off)
  token_delay   seconds between streamed chunks (a slow generation, to die in the middle of)
  models        the models this instance has (a model missing here gets 404)
A backend that refuses connections is simply this process stopped.
"""

import argparse
import hashlib
import json
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "0.12.6"


def now_iso():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def digest(name):
    return hashlib.sha256(name.encode()).hexdigest()


class Knobs:
    def __init__(self, name, models, fail_status=0, delay=0.0, hang=False, token_delay=0.0):
        self.lock = threading.Lock()
        self.name = name
        self.models = list(models)
        self.fail_status = fail_status
        self.delay = delay
        self.hang = hang
        self.token_delay = token_delay
        self.requests = 0

    def update(self, data):
        with self.lock:
            for key in ("fail_status", "delay", "hang", "models", "token_delay"):
                if key in data:
                    setattr(self, key, data[key])

    def snapshot(self):
        with self.lock:
            return {"name": self.name, "models": list(self.models), "fail_status": self.fail_status,
                    "delay": self.delay, "hang": self.hang, "token_delay": self.token_delay,
                    "requests": self.requests}


def tokens_for(knobs, model, prompt_words, limit):
    words = f"Hello from {knobs.name}: {model} answers {prompt_words} prompt words.".split()
    if limit is not None and limit > 0:
        words = words[:limit]
    return [w + " " for w in words[:-1]] + words[-1:]


def model_entry(name):
    family = name.split(":")[0]
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-01-01T00:00:00Z",
        "size": 2_300_000_000,
        "digest": digest(name),
        "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                    "parameter_size": "3.8B", "quantization_level": "Q8_0"},
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "ollama-standin"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: without this, Nagle and delayed ACKs add ~40 ms to
    # every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet: tests read the counters instead
        pass

    @property
    def knobs(self):
        return self.server.knobs

    def _send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Standin-Instance", self.knobs.name)
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def _faults(self):
        """Apply the fault knobs; True when the request was answered (or swallowed) by a fault."""
        with self.knobs.lock:
            self.knobs.requests += 1
        state = self.knobs.snapshot()
        while state["hang"]:
            time.sleep(0.2)
            state = self.knobs.snapshot()
        if state["delay"]:
            time.sleep(float(state["delay"]))
        if state["fail_status"]:
            self._send(int(state["fail_status"]), {"error": f"injected failure on {state['name']}"})
            return True
        return False

    def _model_or_404(self, body):
        model = (body or {}).get("model") or (body or {}).get("name")
        if model not in self.knobs.snapshot()["models"]:
            # Ollama also accepts a tag without ":latest".
            if model and f"{model}:latest" in self.knobs.snapshot()["models"]:
                return model
            self._send(404, {"error": f"model '{model}' not found"})
            return None
        return model

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/":
            return self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        if self.path == "/_standin":
            return self._send(200, self.knobs.snapshot())
        if self._faults():
            return None
        if self.path == "/api/version":
            return self._send(200, {"version": VERSION})
        if self.path == "/api/tags":
            return self._send(200, {"models": [model_entry(m) for m in self.knobs.snapshot()["models"]]})
        if self.path == "/api/ps":
            return self._send(200, {"models": []})
        return self._send(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        body = self._body()
        if self.path == "/_standin":
            self.knobs.update(body or {})
            return self._send(200, self.knobs.snapshot())
        if body is None:
            return self._send(400, {"error": "invalid JSON"})
        if self._faults():
            return None
        routes = {"/api/chat": self._chat, "/api/generate": self._generate, "/api/show": self._show,
                  "/api/embed": self._embed, "/api/embeddings": self._embeddings}
        route = routes.get(self.path)
        if route is None:
            return self._send(404, {"error": "not found"})
        return route(body)

    def _show(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        family = model.split(":")[0]
        return self._send(200, {
            "modelfile": f"FROM {model}\n",
            "parameters": "stop \"<|end|>\"",
            "template": "{{ .Prompt }}",
            "details": model_entry(model)["details"],
            "model_info": {"general.architecture": family, "general.parameter_count": 3_800_000_000,
                           f"{family}.context_length": 131072},
            "capabilities": ["completion"],
            "modified_at": "2026-01-01T00:00:00Z",
        })

    def _limit(self, body):
        options = body.get("options") or {}
        limit = options.get("num_predict")
        return int(limit) if isinstance(limit, (int, float)) and limit > 0 else None

    def _stream(self, chunks, final):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Standin-Instance", self.knobs.name)
        self.end_headers()
        token_delay = float(self.knobs.snapshot()["token_delay"])
        for chunk in list(chunks) + [final]:
            if token_delay:
                time.sleep(token_delay)
            line = json.dumps(chunk).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _stats(self, prompt_words, tokens):
        return {"done": True, "done_reason": "stop", "total_duration": 1_000_000, "load_duration": 100_000,
                "prompt_eval_count": prompt_words, "prompt_eval_duration": 100_000,
                "eval_count": len(tokens), "eval_duration": 500_000}

    def _chat(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        messages = body.get("messages") or []
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
        tokens = tokens_for(self.knobs, model, prompt_words, self._limit(body))
        if body.get("stream", True):
            chunks = [{"model": model, "created_at": now_iso(), "message": {"role": "assistant", "content": t},
                       "done": False} for t in tokens]
            final = {"model": model, "created_at": now_iso(), "message": {"role": "assistant", "content": ""},
                     **self._stats(prompt_words, tokens)}
            return self._stream(chunks, final)
        return self._send(200, {"model": model, "created_at": now_iso(),
                                "message": {"role": "assistant", "content": "".join(tokens)},
                                **self._stats(prompt_words, tokens)})

    def _generate(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        prompt_words = len(str(body.get("prompt", "")).split())
        tokens = tokens_for(self.knobs, model, prompt_words, self._limit(body))
        if body.get("stream", True):
            chunks = [{"model": model, "created_at": now_iso(), "response": t, "done": False} for t in tokens]
            final = {"model": model, "created_at": now_iso(), "response": "", "context": [1, 2, 3],
                     **self._stats(prompt_words, tokens)}
            return self._stream(chunks, final)
        return self._send(200, {"model": model, "created_at": now_iso(), "response": "".join(tokens),
                                "context": [1, 2, 3], **self._stats(prompt_words, tokens)})

    @staticmethod
    def _vector(text):
        seed = digest(text)
        return [int(seed[i:i + 2], 16) / 255.0 for i in range(0, 16, 2)]

    def _embed(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        inputs = body.get("input", "")
        inputs = inputs if isinstance(inputs, list) else [inputs]
        return self._send(200, {"model": model, "embeddings": [self._vector(str(i)) for i in inputs],
                                "total_duration": 1_000_000, "load_duration": 1000,
                                "prompt_eval_count": sum(len(str(i).split()) for i in inputs)})

    def _embeddings(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        return self._send(200, {"embedding": self._vector(str(body.get("prompt", "")))})


def make_server(host, port, knobs):
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.knobs = knobs
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--name", default="standin")
    parser.add_argument("--models", default="phi3:3.8b-mini-128k-instruct-q8_0",
                        help="comma-separated model tags this instance has")
    parser.add_argument("--fail-status", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--token-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    knobs = Knobs(args.name, [m for m in args.models.split(",") if m], args.fail_status, args.delay, args.hang,
                  args.token_delay)
    server = make_server(args.host, args.port, knobs)
    print(f"ollama-standin {args.name} listening on {args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
