#!/usr/bin/env python3
"""A stand-in for an Ollama server, speaking Ollama's documented HTTP API.

No Ollama binary or model weights can be had here, so tests, the demo and the benchmarks run
LiteLLM against this. It implements the endpoints LiteLLM and the formula use, with Ollama's
shapes: ``GET /``, ``/api/version``, ``/api/tags``, ``/api/ps``, ``POST /api/show``, ``/api/chat``
and ``/api/generate`` (NDJSON streaming by default, ``"stream": false`` for one JSON object),
``/api/embed`` and the older ``/api/embeddings``. Unknown models get Ollama's 404
``{"error": "model '...' not found"}``.

Every answer says which instance produced it (``--name``): in the generated text and in the
``X-Standin-Instance`` header.

All knobs are set on the command line (``--fail-status``, ``--num-parallel``, ...) or at run time
with ``POST /_standin`` (JSON, same names with underscores; a bad value is a 400 and changes
nothing), and read with ``GET /_standin``.

Fault knobs:
  fail_status   answer every /api call with this HTTP status (e.g. 500); 0 = off
  delay         seconds to wait before answering (slow backend); also GET /
  hang          accept and never answer (until the knob is turned off); also GET /
  token_delay   seconds between streamed chunks (a slow generation, to die in the middle of)
  models        the models this instance has (a model missing here gets 404)
A backend that refuses connections is simply this process stopped.

Busy knobs, to behave like a real, busy Ollama server. With none of them changed every answer is
immediate and concurrency unlimited (what most tests want). The ones Ollama has take their default
from Ollama's environment variable when it is set (the command line wins over it):
  num_parallel       OLLAMA_NUM_PARALLEL; generation slots per loaded model; 0 = unlimited.
                     Generation requests (/api/chat, /api/generate, /api/embed, /api/embeddings)
                     beyond the free slots wait, first come first served.
  max_queue          OLLAMA_MAX_QUEUE, default 512; when this many generation requests already wait
                     (for a slot, a load or an eviction), another one is answered at once with
                     503 {"error": "server busy, please try again.  maximum pending requests
                     exceeded"}, as Ollama's FAQ describes (Ollama's code counts only the requests
                     its scheduler has not yet handed to a model). 0 leaves no room to wait: every
                     generation request is a 503, while /api/version and the like still answer.
  token_time         seconds per generated token (the slot is held meanwhile; token_delay adds
                     to it when streaming); 0 = instant
  prompt_time        seconds per prompt token (prompt words are the tokens); 0 = instant
  num_tokens         tokens in an answer when the request's options.num_predict does not ask for
                     fewer (num_predict 0 or negative means unlimited, as in Ollama: capped here);
                     0 = the greeting's own length (8 tokens). Longer answers repeat the greeting.
  load_time          seconds to load a model that is not in memory; its requests wait meanwhile
  keep_alive         OLLAMA_KEEP_ALIVE, default 5m; how long a model stays loaded once idle:
                     seconds or a duration ("30s", "5m", "1h30m"); 0 = unload after each request;
                     negative = forever (reported as -1). As in Ollama, a request's own
                     "keep_alive" (whole seconds, or a duration string) becomes its model's from
                     then on, a request without one leaves the model's as it is, and an invalid
                     one is a 400 (time: invalid duration "...").
  max_loaded_models  OLLAMA_MAX_LOADED_MODELS; 0 = unlimited. Loading one more model evicts the
                     least recently used idle model; with none idle, the request waits until one is
                     (and, as in Ollama, requests arriving after it wait behind it, even for models
                     already loaded).
Streaming sends the status line and headers with the first token, as Ollama does: nothing at all
goes out while a request waits for a slot or a load. A client that hangs up (a timeout) takes its
request out of the queue at once, or stops its generation and frees the slot, as in Ollama (the
waiting ones are noticed with epoll, so on Linux only). The durations in answers (total_duration,
load_duration, prompt_eval_duration, eval_duration, nanoseconds) are the real ones. /api/version,
/api/tags, /api/show, /api/ps and GET / never wait for slots, the queue or a load (in Ollama they
do not go through the scheduler); the fault knobs still apply to them.

GET /_standin also reports counters: requests (every call the fault knobs saw, not GET /),
generations (completed generation requests), rejected_busy (503s for a full queue), loads (model
loads), unloads (keep_alive expiries), evictions (unloads for max_loaded_models), and the gauges
loaded (models in memory or loading, by name), waiting and running. Counters are never reset: read
them before and after. /api/ps lists the loaded models as Ollama does.
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import select
import socket
import sys
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "0.12.6"
BUSY = "server busy, please try again.  maximum pending requests exceeded"  # Ollama's ErrMaxQueue, verbatim
DEFAULT_MAX_QUEUE = 512
DEFAULT_KEEP_ALIVE = 300.0
FOREVER = -1.0  # how a keep_alive of "forever" is stored and reported (JSON has no infinity)
# What Go's time.Now().Add(math.MaxInt64) gives for expires_at of a model kept forever: ~292 years on.
FOREVER_DELTA = timedelta(microseconds=(2**63 - 1) // 1000)


def now_iso():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def digest(name):
    return hashlib.sha256(name.encode()).hexdigest()


# --- values of knobs, environment variables and request fields -------------------------------------------------

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)"


def go_duration(text):
    """Seconds in a Go duration string ("1h30m", "-1m", "300ms"), as Go's time.ParseDuration reads it."""
    body = text[1:] if text.startswith(("+", "-")) else text
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if body and re.fullmatch(r"[\d.]+", body):
        raise ValueError(f'time: missing unit in duration "{text}"')
    if not re.fullmatch(f"(?:{_GO_PART})+", body):
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * sum(float(n) * _GO_UNITS[u] for n, u in re.findall(_GO_PART, body))


def keep_alive_seconds(value):
    """A keep_alive knob or OLLAMA_KEEP_ALIVE: seconds or a duration string; negative = FOREVER."""
    if isinstance(value, str):
        try:
            seconds = go_duration(value.strip())
        except ValueError:
            seconds = float(value)  # OLLAMA_KEEP_ALIVE also takes plain seconds
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"expected seconds or a duration, got {value!r}")
    if math.isnan(seconds):
        raise ValueError(f"expected seconds or a duration, got {value!r}")
    return FOREVER if seconds < 0 or math.isinf(seconds) else seconds


def request_keep_alive(value):
    """A request's keep_alive field as Ollama's api.Duration reads it: None (absent) or seconds, inf = forever.

    Numbers are whole seconds (Ollama truncates), strings Go durations; negative means forever.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):  # Python's JSON reads Infinity and NaN; Go's rejects them
            raise ValueError(f"invalid keep_alive {value!r}")
        return math.inf if value < 0 else float(int(value))
    if isinstance(value, str):
        seconds = go_duration(value)
        return math.inf if seconds < 0 else seconds
    raise ValueError(f"Unsupported type: '{type(value).__name__}'")


def _number(value):
    number = None if isinstance(value, bool) else float(value)  # float() also reads "2" from the command line
    if number is None or not math.isfinite(number) or number < 0:
        raise ValueError(f"expected a number >= 0, got {value!r}")
    return number


def as_count(value):
    number = _number(value)
    if number != int(number):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def as_seconds(value):
    return _number(value)


# --- knobs ------------------------------------------------------------------------------------------------------


class Knobs:
    # The busy knobs and how a value given for each is checked and converted.
    BUSY = {"num_parallel": as_count, "max_queue": as_count, "token_time": as_seconds, "prompt_time": as_seconds,
            "num_tokens": as_count, "load_time": as_seconds, "keep_alive": keep_alive_seconds,
            "max_loaded_models": as_count}

    def __init__(self, name, models, fail_status=0, delay=0.0, hang=False, token_delay=0.0, *, num_parallel=0,
                 max_queue=DEFAULT_MAX_QUEUE, token_time=0.0, prompt_time=0.0, num_tokens=0, load_time=0.0,
                 keep_alive=DEFAULT_KEEP_ALIVE, max_loaded_models=0):
        # One lock for the knobs and the scheduler's state (see Scheduler), so a knob change and the
        # scheduling decisions it affects never interleave; a condition, so that a change (more slots)
        # wakes the requests waiting on it. Reentrant: snapshots are taken under it.
        self.lock = threading.Condition(threading.RLock())
        self.name = name
        self.models = list(models)
        self.fail_status = fail_status
        self.delay = delay
        self.hang = hang
        self.token_delay = token_delay
        self.requests = 0
        busy = {"num_parallel": num_parallel, "max_queue": max_queue, "token_time": token_time,
                "prompt_time": prompt_time, "num_tokens": num_tokens, "load_time": load_time,
                "keep_alive": keep_alive, "max_loaded_models": max_loaded_models}
        for key, value in busy.items():
            setattr(self, key, self.BUSY[key](value))

    def update(self, data):
        """Apply a POST /_standin body; ValueError (and nothing changed) when a busy knob's value is bad."""
        busy = {}
        for key, convert in self.BUSY.items():
            if key in data:
                try:
                    busy[key] = convert(data[key])
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{key}: {exc}") from None
        with self.lock:
            for key in ("fail_status", "delay", "hang", "models", "token_delay"):
                if key in data:
                    setattr(self, key, data[key])
            for key, value in busy.items():
                setattr(self, key, value)
            self.lock.notify_all()  # waiting requests re-check: there may be more slots or room now

    def snapshot(self):
        with self.lock:
            return {"name": self.name, "models": list(self.models), "fail_status": self.fail_status,
                    "delay": self.delay, "hang": self.hang, "token_delay": self.token_delay,
                    "requests": self.requests, **{key: getattr(self, key) for key in self.BUSY}}


def greeting(name, model, prompt_words):
    return f"Hello from {name}: {model} answers {prompt_words} prompt words.".split()


GREETING_TOKENS = len(greeting("name", "model", 0))


def tokens_for(knobs, model, prompt_words, limit, count=0):
    """The answer's tokens: COUNT of them (0 = the greeting once), at most LIMIT when that is positive."""
    words = greeting(knobs.name, model, prompt_words)
    if count:
        words = (words * (count // len(words) + 1))[:count]
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


# --- the scheduler ----------------------------------------------------------------------------------------------
#
# Modelled on Ollama's server/sched.go. A generation request (a Ticket) goes through two stages:
#  1. `pending`, one FIFO for the whole server: the head is assigned to its model, which is loaded
#     first if it is not in memory (evicting the least recently used idle model when
#     max_loaded_models is reached). If no model can be evicted the head waits, and so does
#     everything behind it, as in Ollama's single scheduling loop.
#  2. the model's own FIFO, for one of its num_parallel slots, once the model has finished loading.
# Time-driven events need no thread: a load ends when its deadline passes (waiters sleep until the
# next one) and keep_alive expiry is applied whenever the state is looked at (by any request,
# /api/ps or /_standin), which no one can tell from a timer.


class Ticket:
    """One generation request, from its arrival to the end of its answer."""

    def __init__(self, model, keep_alive, arrived, sock=None):
        self.model = model
        self.sock = sock  # the client's connection, watched for a hang-up (see Hangups, Run.spend)
        self.fd = None  # its fd while Hangups watches it
        self.cancelled = False  # the client hung up while the request waited
        self.keep_alive = keep_alive  # seconds, inf = forever; None = the model's current one
        self.arrived = arrived
        self.assigned = None  # when stage 1 was passed
        self.resident = None  # the Resident it was assigned to (stage 1 passed)
        self.granted = False  # holds a slot (stage 2 passed)
        self.loaded_at = None  # when its model was ready for it
        self.completed = False


class Resident:
    """A model in memory, or being loaded into it."""

    def __init__(self, name, now, load_time, keep_alive):
        self.name = name
        self.ready_at = now + load_time
        self.ready = False
        self.refs = 0  # tickets assigned: waiting for a slot or generating (Ollama's refCount)
        self.running = 0
        self.queue = deque()  # tickets waiting for a slot
        self.keep_alive = keep_alive  # seconds, inf = forever; a request's own keep_alive replaces it
        self.last_used = now
        self.idle_since = now

    @property
    def idle(self):
        return self.ready and self.refs == 0

    def expires(self, now):
        # Ollama's timer starts when the model goes idle; while busy it could expire keep_alive after now.
        return (self.idle_since if self.idle else now) + self.keep_alive


def hung_up(sock):
    """Has the client closed its end (or reset the connection)? Reads nothing: it only peeks."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class Hangups:
    """Notices clients that hang up while their request waits, as Ollama does (a request's context ends with
    its connection): the request leaves the queue at once instead of taking a slot later for no one.

    One thread, started on first use, sleeps in epoll on the waiting requests' connections (so no polling);
    without epoll (not Linux) nothing is watched and a waiting request stays queued until its turn.
    """

    EVENTS = getattr(select, "EPOLLRDHUP", 0) | getattr(select, "EPOLLHUP", 0) | getattr(select, "EPOLLERR", 0)

    def __init__(self, cond):
        self.cond = cond
        self.epoll = None
        self.wake = None  # a pipe whose reading end is in the epoll set: written to on close()
        self.watched = {}  # fd -> ticket; all of it under cond

    def watch(self, ticket):
        if not hasattr(select, "epoll"):
            return
        if self.epoll is None:
            self.epoll = select.epoll()
            self.wake = os.pipe()
            self.epoll.register(self.wake[0], select.EPOLLIN)
            threading.Thread(target=self._run, args=(self.epoll, self.wake[0]), daemon=True,
                             name="standin-hangups").start()
        try:
            self.epoll.register(ticket.sock.fileno(), self.EVENTS)
        except OSError:
            return  # not a socket epoll can watch: the request just is not watched
        ticket.fd = ticket.sock.fileno()
        self.watched[ticket.fd] = ticket

    def unwatch(self, ticket):
        if ticket.fd is not None and self.watched.get(ticket.fd) is ticket:
            del self.watched[ticket.fd]
            self.epoll.unregister(ticket.fd)
        ticket.fd = None

    def close(self):
        with self.cond:
            if self.wake is not None:
                os.write(self.wake[1], b"x")

    def _run(self, epoll, wake):
        while True:
            events = epoll.poll()
            with self.cond:
                if any(fd == wake for fd, _ in events):
                    epoll.close()
                    os.close(self.wake[0])
                    os.close(self.wake[1])
                    self.epoll = self.wake = None
                    self.watched.clear()
                    return
                for fd, _ in events:
                    ticket = self.watched.get(fd)
                    if ticket is None:
                        continue
                    self.unwatch(ticket)  # whatever it was: level-triggered events would fire again and again
                    # The fd may be a new connection's already; peeking tells the hang-up from a stale event.
                    if hung_up(ticket.sock):
                        ticket.cancelled = True
                        self.cond.notify_all()


class Scheduler:
    COUNTERS = ("generations", "rejected_busy", "loads", "unloads", "evictions")

    def __init__(self, knobs):
        self.knobs = knobs
        self.cond = knobs.lock
        self.pending = deque()
        self.residents = {}
        self.counts = dict.fromkeys(self.COUNTERS, 0)
        self.hangups = Hangups(self.cond)

    def close(self):
        self.hangups.close()

    def admit(self, model, keep_alive, sock=None):
        """Queue a generation request from the client on SOCK; its Ticket, or None when the queue is full (503)."""
        with self.cond:
            now = time.monotonic()
            self._advance(now)
            if self._waiting() >= self.knobs.max_queue:
                self.counts["rejected_busy"] += 1
                return None
            ticket = Ticket(model, keep_alive, now, sock)
            self.pending.append(ticket)
            self._settle(now)
            if not ticket.granted and sock is not None:
                self.hangups.watch(ticket)
            return ticket

    def wait(self, ticket):
        """Block until TICKET holds a slot of its (loaded) model; ConnectionResetError if its client hangs up."""
        with self.cond:
            while not ticket.granted:
                if ticket.cancelled:
                    raise ConnectionResetError("the client hung up while its request waited")
                self.cond.wait(self._next_deadline(time.monotonic()))
                self._settle(time.monotonic())
            self.hangups.unwatch(ticket)

    def release(self, ticket):
        """TICKET's request is over (answered, failed or abandoned): its slot or place goes to the next."""
        with self.cond:
            self.hangups.unwatch(ticket)
            now = time.monotonic()
            resident = ticket.resident
            if ticket.granted:
                resident.running -= 1
            elif resident is None:
                self.pending.remove(ticket)
            else:
                resident.queue.remove(ticket)
            if resident is not None:
                resident.refs -= 1
                resident.last_used = now
                if resident.refs == 0:
                    resident.idle_since = now
            if ticket.completed:
                self.counts["generations"] += 1
            self._settle(now)

    def stats(self):
        with self.cond:
            self._settle(time.monotonic())
            return {**self.counts, "loaded": sorted(self.residents), "waiting": self._waiting(),
                    "running": sum(r.running for r in self.residents.values())}

    def ps(self):
        """/api/ps's models: Ollama's fields, the latest to expire first."""
        with self.cond:
            now = time.monotonic()
            self._settle(now)
            wall = datetime.now().astimezone()
            models = []
            for resident in sorted(self.residents.values(), key=lambda r: r.expires(now), reverse=True):
                left = resident.expires(now) - now
                expires = wall + (FOREVER_DELTA if math.isinf(left) else timedelta(seconds=max(left, 0.0)))
                entry = {k: v for k, v in model_entry(resident.name).items() if k != "modified_at"}
                models.append({**entry, "expires_at": expires.isoformat().replace("+00:00", "Z"),
                               "size_vram": entry["size"], "context_length": 4096})
            return models

    # Everything below runs with self.cond held.

    def _waiting(self):
        return len(self.pending) + sum(len(r.queue) for r in self.residents.values())

    def _next_deadline(self, now):
        """Seconds until the next load finishes (None: no load under way, only other threads change things)."""
        loading = [r.ready_at for r in self.residents.values() if not r.ready]
        return max(min(loading) - now, 0.0) if loading else None

    def _settle(self, now):
        if self._advance(now):
            self.cond.notify_all()  # someone else's ticket may have been granted

    def _advance(self, now):
        """Apply everything due by NOW; True when anything changed."""
        changed = False
        for resident in list(self.residents.values()):  # keep_alive expiry
            if resident.idle and now >= resident.idle_since + resident.keep_alive:
                del self.residents[resident.name]
                self.counts["unloads"] += 1
                changed = True
        while self.pending:  # stage 1
            ticket = self.pending[0]
            resident = self.residents.get(ticket.model)
            if resident is None:
                limit = self.knobs.max_loaded_models
                while limit and len(self.residents) >= limit:
                    idle = [r for r in self.residents.values() if r.idle]
                    if not idle:
                        break
                    del self.residents[min(idle, key=lambda r: r.last_used).name]
                    self.counts["evictions"] += 1
                    changed = True
                if limit and len(self.residents) >= limit:
                    break  # wait for a model to go idle, holding up everything behind
                default = math.inf if self.knobs.keep_alive < 0 else self.knobs.keep_alive
                resident = Resident(ticket.model, now, self.knobs.load_time, default)
                self.residents[ticket.model] = resident
                self.counts["loads"] += 1
            self.pending.popleft()
            ticket.resident, ticket.assigned = resident, now
            resident.refs += 1
            resident.last_used = now
            if ticket.keep_alive is not None:  # as Ollama: a request without one leaves the model's as it is
                resident.keep_alive = ticket.keep_alive
            resident.queue.append(ticket)
            changed = True
        parallel = self.knobs.num_parallel
        for resident in self.residents.values():  # loads done, then stage 2
            if not resident.ready and now >= resident.ready_at:
                resident.ready = True
                changed = True
            while resident.ready and resident.queue and (not parallel or resident.running < parallel):
                ticket = resident.queue.popleft()
                ticket.granted = True
                ticket.loaded_at = max(ticket.assigned, resident.ready_at)
                resident.running += 1
                changed = True
        return changed


class Run:
    """The clock of one granted generation: spends token and prompt time, and reports Ollama's durations.

    Sleeps go to absolute deadlines, so that the overshoot of each sleep does not add up over many tokens.
    """

    def __init__(self, ticket, knobs, scheduler):
        self.ticket = ticket
        self.scheduler = scheduler
        self.released = False
        with knobs.lock:
            self.token_time = knobs.token_time
            self.prompt_time = knobs.prompt_time
            self.num_tokens = knobs.num_tokens
            self.token_delay = float(knobs.token_delay)
        self.started = self.mark = self.prompt_done = time.monotonic()

    def spend(self, duration):
        """Let DURATION of generation time pass; ConnectionResetError as soon as the client hangs up
        (Ollama stops generating for a client that left, and its slot is free at once)."""
        self.mark += duration
        left = self.mark - time.monotonic()
        if left <= 0:
            return
        sock = self.ticket.sock
        if sock is None or not hasattr(select, "poll"):
            time.sleep(left)
            return
        poller = select.poll()
        poller.register(sock, select.POLLIN | getattr(select, "POLLRDHUP", 0))
        if poller.poll(left * 1000):
            if hung_up(sock):
                raise ConnectionResetError("the client hung up during its generation")
            time.sleep(max(self.mark - time.monotonic(), 0.0))  # bytes from the client (pipelining): not a hang-up

    def eval_prompt(self, prompt_tokens):
        self.spend(self.prompt_time * prompt_tokens)
        self.prompt_done = self.mark

    def finish(self):
        """The generation is complete: its slot is given back before the last bytes go out, as Ollama's runner
        frees it when generating ends. So a client holding the answer finds the counters (and a keep_alive 0
        unload) already done."""
        self.ticket.completed = True
        self.released = True
        self.scheduler.release(self.ticket)

    @staticmethod
    def ns(duration):
        return max(1, int(duration * 1e9))  # never 0: Ollama never reports 0, and clients divide by these

    def durations(self):
        # As Ollama: load_duration runs from arrival to the model being ready for the request (a wait for
        # an eviction included, not the wait for a slot); total_duration covers everything.
        ticket, end = self.ticket, time.monotonic()
        return {"total_duration": self.ns(end - ticket.arrived),
                "load_duration": self.ns(ticket.loaded_at - ticket.arrived),
                "prompt_eval_duration": self.ns(self.prompt_done - self.started),
                "eval_duration": self.ns(end - self.prompt_done)}

    def stats(self, prompt_words, tokens):
        d = self.durations()
        return {"done": True, "done_reason": "stop", "total_duration": d["total_duration"],
                "load_duration": d["load_duration"], "prompt_eval_count": prompt_words,
                "prompt_eval_duration": d["prompt_eval_duration"], "eval_count": len(tokens),
                "eval_duration": d["eval_duration"]}


# --- HTTP ---------------------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server_version = "ollama-standin"
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: without this, Nagle and delayed ACKs add ~40 ms to
    # every keep-alive request.
    disable_nagle_algorithm = True
    _streaming = False  # the current answer's status line went out with its first chunk

    def log_message(self, fmt, *args):  # quiet: tests read the counters instead
        pass

    @property
    def knobs(self):
        return self.server.knobs

    @property
    def scheduler(self):
        return self.server.scheduler

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

    def _stall(self):
        """The hang and delay knobs: a hung process answers nothing, a slow one answers late."""
        state = self.knobs.snapshot()
        while state["hang"]:
            time.sleep(0.2)
            state = self.knobs.snapshot()
        if state["delay"]:
            time.sleep(float(state["delay"]))
        return state

    def _faults(self):
        """Apply the fault knobs; True when the request was answered (or swallowed) by a fault."""
        with self.knobs.lock:
            self.knobs.requests += 1
        state = self._stall()
        if state["fail_status"]:
            self._send(int(state["fail_status"]), {"error": f"injected failure on {state['name']}"})
            return True
        return False

    def _state(self):
        with self.knobs.lock:  # one consistent picture of knobs and counters
            return {**self.knobs.snapshot(), **self.scheduler.stats()}

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
            self._stall()
            return self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
        if self.path == "/_standin":
            return self._send(200, self._state())
        if self._faults():
            return None
        if self.path == "/api/version":
            return self._send(200, {"version": VERSION})
        if self.path == "/api/tags":
            return self._send(200, {"models": [model_entry(m) for m in self.knobs.snapshot()["models"]]})
        if self.path == "/api/ps":
            return self._send(200, {"models": self.scheduler.ps()})
        return self._send(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        body = self._body()
        if self.path == "/_standin":
            try:
                self.knobs.update(body or {})
            except ValueError as exc:
                return self._send(400, {"error": str(exc)})
            return self._send(200, self._state())
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

    @contextlib.contextmanager
    def _slot(self, model, body):
        """Hold one of MODEL's slots for the with-block; yields its Run, or None when already answered.

        Nothing is written before the slot is held, so a waiting client sees no status line yet.
        """
        try:
            keep_alive = request_keep_alive(body.get("keep_alive"))
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
            yield None
            return
        ticket = self.scheduler.admit(model, keep_alive, self.connection)
        if ticket is None:
            self._send(503, {"error": BUSY})
            yield None
            return
        run = None
        try:
            self.scheduler.wait(ticket)
            run = Run(ticket, self.knobs, self.scheduler)
            yield run
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left mid-answer; its slot goes to the next one
        finally:
            if run is None or not run.released:
                self.scheduler.release(ticket)

    def _chunk(self, obj):
        """One NDJSON line of a chunked answer; the first also sends the status line and headers."""
        if not self._streaming:
            self._streaming = True
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Standin-Instance", self.knobs.name)
            self.end_headers()
        line = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def _complete(self, body, model, prompt_words, piece, final_extra):
        """A chat or generate answer: PIECE(text) is the per-chunk object, FINAL_EXTRA goes in the last one."""
        self._streaming = False
        with self._slot(model, body) as run:
            if run is None:
                return None
            tokens = tokens_for(self.knobs, model, prompt_words, self._limit(body), run.num_tokens)
            run.eval_prompt(prompt_words)
            if body.get("stream", True):
                for token in tokens:
                    run.spend(run.token_time + run.token_delay)
                    self._chunk({**piece(token), "done": False})
                run.spend(run.token_delay)
                final = {**piece(""), **final_extra, **run.stats(prompt_words, tokens)}
                run.finish()
                self._chunk(final)
                self.wfile.write(b"0\r\n\r\n")
            else:
                run.spend(run.token_time * len(tokens))
                answer = {**piece("".join(tokens)), **final_extra, **run.stats(prompt_words, tokens)}
                run.finish()
                self._send(200, answer)
        return None

    def _chat(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        messages = body.get("messages") or []
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))
        return self._complete(body, model, prompt_words, lambda text: {
            "model": model, "created_at": now_iso(), "message": {"role": "assistant", "content": text}}, {})

    def _generate(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        prompt_words = len(str(body.get("prompt", "")).split())
        return self._complete(body, model, prompt_words, lambda text: {
            "model": model, "created_at": now_iso(), "response": text}, {"context": [1, 2, 3]})

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
        words = sum(len(str(i).split()) for i in inputs)
        with self._slot(model, body) as run:
            if run is None:
                return None
            run.eval_prompt(words)
            d = run.durations()
            run.finish()
            self._send(200, {"model": model, "embeddings": [self._vector(str(i)) for i in inputs],
                             "total_duration": d["total_duration"], "load_duration": d["load_duration"],
                             "prompt_eval_count": words})
        return None

    def _embeddings(self, body):
        model = self._model_or_404(body)
        if model is None:
            return None
        prompt = str(body.get("prompt", ""))
        with self._slot(model, body) as run:
            if run is None:
                return None
            run.eval_prompt(len(prompt.split()))
            run.finish()
            self._send(200, {"embedding": self._vector(prompt)})
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_close(self):
        super().server_close()
        self.scheduler.close()

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout, a hang knob outlived) is no error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(host, port, knobs):
    server = Server((host, port), Handler)
    server.knobs = knobs
    server.scheduler = Scheduler(knobs)
    return server


# --- command line -------------------------------------------------------------------------------------------------


def env_defaults(environ):
    """The busy knobs' defaults from Ollama's environment variables; like Ollama, a bad value is warned about
    and ignored."""
    defaults = {"num_parallel": 0, "max_queue": DEFAULT_MAX_QUEUE, "keep_alive": DEFAULT_KEEP_ALIVE,
                "max_loaded_models": 0}
    variables = {"num_parallel": "OLLAMA_NUM_PARALLEL", "max_queue": "OLLAMA_MAX_QUEUE",
                 "keep_alive": "OLLAMA_KEEP_ALIVE", "max_loaded_models": "OLLAMA_MAX_LOADED_MODELS"}
    for key, variable in variables.items():
        raw = environ.get(variable, "").strip()
        if raw:
            try:
                defaults[key] = Knobs.BUSY[key](raw)
            except ValueError:
                print(f"ollama-standin: invalid {variable}={raw!r}, using the default", file=sys.stderr)
    return defaults


def parse_args(argv=None, environ=None):
    """(args, Knobs) from the command line, the busy knobs' defaults from ENVIRON (os.environ)."""
    env = env_defaults(os.environ if environ is None else environ)
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
    parser.add_argument("--num-parallel", type=as_count, default=env["num_parallel"])
    parser.add_argument("--max-queue", type=as_count, default=env["max_queue"])
    parser.add_argument("--token-time", type=as_seconds, default=0.0)
    parser.add_argument("--prompt-time", type=as_seconds, default=0.0)
    parser.add_argument("--num-tokens", type=as_count, default=0)
    parser.add_argument("--load-time", type=as_seconds, default=0.0)
    parser.add_argument("--keep-alive", type=keep_alive_seconds, default=env["keep_alive"],
                        help="seconds or a duration (5m); negative = forever")
    parser.add_argument("--max-loaded-models", type=as_count, default=env["max_loaded_models"])
    args = parser.parse_args(argv)
    knobs = Knobs(args.name, [m for m in args.models.split(",") if m], args.fail_status, args.delay, args.hang,
                  args.token_delay, num_parallel=args.num_parallel, max_queue=args.max_queue,
                  token_time=args.token_time, prompt_time=args.prompt_time, num_tokens=args.num_tokens,
                  load_time=args.load_time, keep_alive=args.keep_alive, max_loaded_models=args.max_loaded_models)
    return args, knobs


def main(argv=None):
    args, knobs = parse_args(argv)
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
