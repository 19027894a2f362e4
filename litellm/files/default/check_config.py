#!/usr/bin/env python3
"""Check a LiteLLM proxy config before it replaces the live one (Salt file.managed check_cmd).

Runs with the service virtualenv's Python, so the LiteLLM that will load the file judges it: a config
this release refuses fails here, not at the next restart.

1. ``model_list`` and ``router_settings``: LiteLLM builds its ``Router`` from them.
2. ``general_settings`` and ``litellm_settings``: the proxy's own startup code runs on the config
   (``ProxyConfig.load_config``: settings, then models and router with the settings applied; and
   the ``general_settings`` model the ``litellm`` command validates before the app starts). What
   the proxy would refuse is refused here. It runs offline and changes nothing:

   * no network: sockets refuse to connect or resolve, and no cache backend is built (Redis, S3,
     disk...): LiteLLM still picks one from ``cache_params``, so an unknown ``type`` fails. A key
     LiteLLM needed the network for is reported as not checked, and passes;
   * ``os.environ/NAME`` of a variable unset here reads a placeholder (the check does not see the
     service's environment); a key that names such a variable and fails is reported as not
     checked, and passes. For the same reason the license is assumed: enterprise-only settings pass;
   * no ``ollama serve`` is started, secret-manager settings are left out, and so are the sections
     other than these (guardrails, MCP servers...). Callback modules are imported as LiteLLM does:
     from the virtualenv, or beside the file checked (Salt's temporary copy, not the live one's
     directory). A key that failed with a placeholder is checked again without the references,
     from a copy of the file written beside it and then removed.

Exit 0 when usable; otherwise 1 and one line on stderr: ``check-config: <section>.<key>: <why>``.
"""

import asyncio
import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile

import yaml

ENV_PREFIX = "os.environ/"
# Read where a variable unset here is referenced. A number: it passes where LiteLLM converts the
# value (float(), int, bool) as well as where it takes any string.
PLACEHOLDER = "1"
CHECKED_SECTIONS = ("general_settings", "litellm_settings")
# What load_config reads besides them: the models and router it builds with the settings
# applied, callbacks' parameters, the variables it exports.
LOADED_WITH = ("model_list", "router_settings", "callback_settings", "environment_variables")
SECRET_MANAGER_KEYS = ("key_management_system", "use_google_kms", "use_azure_key_vault")
TIMEOUT_SECONDS = 60
ENVIRON = dict(os.environ)  # as the check was started: load_config exports environment_variables


def finish(code, message=None):
    if message:
        print(f"check-config: {message}", file=sys.stderr if code else sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no waiting for threads a callback may have started: the verdict is in


def fail(message):
    finish(1, message)


def one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def env_refs(value):
    """Names of the variables ``value`` refers to as os.environ/NAME, at any depth."""
    if isinstance(value, str):
        return {value[len(ENV_PREFIX):]} if value.startswith(ENV_PREFIX) else set()
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*(env_refs(item) for item in items))


class Trail:
    """Which key of which section LiteLLM is working on, so that a failure names it."""

    def __init__(self):
        self.section = None  # read last
        self.looped = {}  # section -> key of a `for key, value in section.items()` loop
        self.read = {}  # section -> key looked up last
        self.touched = set()  # litellm_settings keys read while handling the loop's key
        self.network = set()  # (section, key) during which LiteLLM tried to reach the network

    def key(self):
        # load_config handles litellm_settings key by key in one loop (a branch looks up companions,
        # e.g. cache_params for cache); general_settings by lookups, one setting after the other.
        if self.section == "litellm_settings" and self.section in self.looped:
            return self.looped[self.section]
        return self.read.get(self.section)


class Watched(dict):
    """A settings section that tells the trail which of its keys LiteLLM reads."""

    def __init__(self, section, data, trail):
        super().__init__(data)
        self._section = section
        self._trail = trail

    def _note(self, key):
        self._trail.section = self._section
        self._trail.read[self._section] = key
        self._trail.touched.add(key)

    def items(self):
        for key, value in super().items():
            self._trail.section = self._section
            self._trail.looped[self._section] = key
            self._trail.touched = {key}
            yield key, value

    def get(self, key, default=None):
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)


class Loaded(dict):
    """The whole config: reading another part (model_list, router_settings...) ends a section's turn."""

    def __init__(self, data, trail):
        super().__init__(data)
        self._trail = trail

    def get(self, key, default=None):
        if key not in CHECKED_SECTIONS:
            self._trail.section = key
        return super().get(key, default)


@contextlib.contextmanager
def quiet():
    """LiteLLM prints banners and logs while it loads: this script's line is the only output."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def block_network(trail):
    def refuse(*_args, **_kwargs):
        trail.network.add((trail.section, trail.key()))
        raise OSError(errno.ENETUNREACH, "no network while the config is checked")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.getaddrinfo = refuse
    socket.create_connection = refuse

    # redis-py retries a refused connection with backoff: seconds per client LiteLLM makes.
    # Refused before it tries, as a Redis that is down (LiteLLM logs that and goes on).
    try:
        import redis.asyncio.connection
        import redis.connection
        import redis.exceptions
    except ImportError:
        return

    def refuse_redis(*_args, **_kwargs):
        trail.network.add((trail.section, trail.key()))
        raise redis.exceptions.ConnectionError("no network while the config is checked")

    async def refuse_redis_async(*args, **kwargs):
        refuse_redis(*args, **kwargs)

    redis.connection.AbstractConnection.connect = refuse_redis
    redis.asyncio.connection.AbstractConnection.connect = refuse_redis_async


def leave_cache_backends_unbuilt():
    """Cache() still picks the backend from its ``type``; the backend (a connection, a directory)
    is not made: every cache class litellm.caching.caching builds from, but the in-memory ones."""
    from litellm.caching import caching
    from litellm.caching.base_cache import BaseCache

    class Unbuilt(BaseCache):
        def __init__(self, *_args, **_kwargs):
            super().__init__()

    Unbuilt.__abstractmethods__ = frozenset()  # never asked to cache: nothing to implement
    for name, value in list(vars(caching).items()):
        if (isinstance(value, type) and issubclass(value, BaseCache)
                and value not in (caching.InMemoryCache, caching.DualCache)):
            setattr(caching, name, Unbuilt)


def dry_run_config(config):
    """What load_config gets: the settings and what it builds with them, no other feature."""
    dry = {name: config[name] for name in CHECKED_SECTIONS + LOADED_WITH if config.get(name) is not None}
    general = dict(dry.get("general_settings") or {})
    for key in SECRET_MANAGER_KEYS:
        general.pop(key, None)
    dry["general_settings"] = general
    return dry


def with_placeholders(value, unset, key=None):
    """``value`` with PLACEHOLDER for os.environ/NAME where NAME is unset here (in the config, not in
    the environment: LiteLLM would act on a REDIS_HOST it finds there). Pointers it resolves only
    at use stay as written."""
    from litellm.types.router import holds_secret_pointer

    if isinstance(value, str) and value.startswith(ENV_PREFIX) and value[len(ENV_PREFIX):] in unset:
        return value if key is not None and holds_secret_pointer(key) else PLACEHOLDER
    if isinstance(value, dict):
        return {k: with_placeholders(v, unset, k) for k, v in value.items()}
    if isinstance(value, list):
        return [with_placeholders(item, unset, key) for item in value]
    return value


def validation_errors(exc):
    errors = getattr(exc, "errors", None)
    return errors() if callable(errors) else []


def blame(exc, trail, config):
    """(section, key) a failure is about; (None, None) when it cannot be told."""
    section, key = trail.section, trail.key()
    errors = validation_errors(exc)
    field = errors[0]["loc"][0] if errors and errors[0].get("loc") else None
    if section in CHECKED_SECTIONS and field in (config.get(section) or {}):
        return section, field
    if section in CHECKED_SECTIONS:
        return section, key
    # It failed building the models or the router, which the plain Router check built: a setting
    # they read is wrong. Name the one whose value the error quotes.
    quoted = [(name, k) for name in CHECKED_SECTIONS for k, v in (config.get(name) or {}).items()
              if isinstance(v, (str, int, float)) and not isinstance(v, bool) and repr(v) in str(exc)]
    return quoted[0] if len(quoted) == 1 else (None, None)


def reason(exc):
    errors = validation_errors(exc)
    if errors:
        return f"{type(exc).__name__}: " + "; ".join(
            ": ".join(filter(None, (".".join(str(part) for part in e.get("loc", ())), e.get("msg"))))
            for e in errors[:3])
    return f"{type(exc).__name__}: {exc}"


def check_settings(path, config, proxy_server, trail):
    """Run the proxy's startup handling of the settings on ``config``; fail() on a refusal."""
    from litellm.proxy.proxy_cli import DatabaseTimeoutSettings

    unset = {name for name in env_refs(config) if name not in os.environ}
    dry = with_placeholders(dry_run_config(config), unset)
    leave_cache_backends_unbuilt()
    proxy_server.run_ollama_serve = lambda: None
    proxy_server.premium_user = True

    class DryRun(proxy_server.ProxyConfig):
        async def _get_config_from_file(self, config_file_path=None):
            return dry

        async def get_config(self, config_file_path=None):
            loaded = await super().get_config(config_file_path=config_file_path)
            for name in CHECKED_SECTIONS:
                if isinstance(loaded.get(name), dict):
                    loaded[name] = Watched(name, loaded[name], trail)
            return Loaded(loaded, trail)

    async def startup():
        # What the `litellm` command validates before the app starts, then the app's startup.
        DatabaseTimeoutSettings.model_validate(Watched("general_settings", dry["general_settings"], trail))
        trail.section = None
        await DryRun().load_config(router=None, config_file_path=path)

    def out_of_time(*_args):
        raise TimeoutError(f"LiteLLM took over {TIMEOUT_SECONDS} s to load the settings")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(TIMEOUT_SECONDS)
    try:
        with quiet():
            asyncio.run(startup())
    except Exception as exc:  # noqa: BLE001 - any refusal is a failed check
        signal.alarm(0)
        section, key = blame(exc, trail, config)
        where = f"{section}.{key}" if section and key else "general_settings/litellm_settings"
        # Its own value, or one LiteLLM read while handling it (cache_params for cache), names a
        # variable unset here: the placeholder may be what failed.
        read = {key} | (trail.touched if section == "litellm_settings" else set()) if section and key else set()
        needs = sorted(set().union(*(env_refs((config.get(section) or {}).get(k)) for k in read)) & unset)
        if isinstance(exc, TimeoutError) or (section, key) in trail.network:
            print(f"check-config: warning: {where} not checked: LiteLLM needs the network for it", file=sys.stderr)
        elif needs:
            refused = refused_without(path, config, section, read, unset)
            if refused:
                fail(refused)
            print(f"check-config: warning: {where} not checked: it reads {', '.join(needs)}, unset where "
                  "the check runs", file=sys.stderr)
        else:
            fail(f"{where}: LiteLLM {version()} rejects it at startup: {one_line(reason(exc))}")
    signal.alarm(0)


def without_refs(value, unset):
    """``value`` without the os.environ/NAME entries whose NAME is unset here."""

    def unknown(item):
        return isinstance(item, str) and bool(env_refs(item) & unset)

    if isinstance(value, dict):
        return {k: without_refs(v, unset) for k, v in value.items() if not unknown(v)}
    if isinstance(value, list):
        return [without_refs(item, unset) for item in value if not unknown(item)]
    return value


def refused_without(path, config, section, keys, unset):
    """The check's verdict on ``config`` with the unset references of ``section``'s ``keys`` left
    out: a failure that stays is not the placeholders'. None when it passes. In a new process:
    this one holds what the first load left in LiteLLM."""
    settings = {}
    for key, value in config[section].items():  # in order: LiteLLM handles them in order
        settings.update(without_refs({key: value}, unset) if key in keys else {key: value})
    try:
        # Beside the candidate: LiteLLM imports callbacks from the config's directory too.
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix=".check-config-", delete=False,
                                         dir=os.path.dirname(os.path.abspath(path))) as handle:
            yaml.safe_dump({**config, section: settings}, handle, sort_keys=False)
    except OSError:
        return None
    try:
        ret = subprocess.run([sys.executable, os.path.abspath(__file__), handle.name], env=ENVIRON,
                             capture_output=True, text=True, check=False)
    finally:
        os.unlink(handle.name)
    if ret.returncode == 0:
        return None
    lines = [line for line in ret.stderr.splitlines() if line.startswith("check-config: ")]
    return lines[-1][len("check-config: "):] if lines else one_line(ret.stderr)


def version():
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("litellm")
    except PackageNotFoundError:
        return "(unknown version)"


def main(path):
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read {path}: {one_line(exc)}")
    if not isinstance(config, dict):
        fail("the config is not a mapping")
    model_list = config.get("model_list")
    if not isinstance(model_list, list) or not model_list:
        fail("model_list is empty")
    for section in ("router_settings", "callback_settings", "environment_variables", *CHECKED_SECTIONS):
        if not isinstance(config.get(section) or {}, dict):
            fail(f"{section} is not a mapping")
    master_key = (config.get("general_settings") or {}).get("master_key", "")
    if not str(master_key).startswith(ENV_PREFIX):
        fail("general_settings.master_key must be os.environ/...: no secret in this file")

    trail = Trail()
    block_network(trail)
    # Slow import (the proxy, litellm with it): only once the cheap checks passed.
    try:
        with quiet():
            from litellm.proxy import proxy_server
    except Exception as exc:  # noqa: BLE001 - the proxy would not start either
        fail(f"LiteLLM's proxy does not load in this virtualenv: {one_line(reason(exc))}")

    try:
        with quiet():
            proxy_server.Router(model_list=model_list, **(config.get("router_settings") or {}))
    except Exception as exc:  # noqa: BLE001 - any rejection is a failed check
        fail(f"model_list/router_settings: LiteLLM rejects this config: {one_line(reason(exc))}")
    check_settings(path, config, proxy_server, trail)
    finish(0, f"ok ({len(model_list)} deployments)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: check_config.py CONFIG")
    main(sys.argv[1])
