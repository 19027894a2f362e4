"""
Operate a LiteLLM proxy deployed by litellm-formula.

Reads the same settings the states use: ``salt://<tplroot>/parameters/defaults.yaml``, the
per-``os_family`` file, pillar ``litellm:lookup`` and top-level pillar ``litellm``, merged in that
order. The master key is read from the environment file on disk (root only), never printed.

The pure logic (schema, validation, config building, URL shaping) lives in plain functions at the
top of this file so tests call them directly; the public functions at the bottom only wire Salt's
dunders to them.
"""

import glob
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "litellm"
# The loader exposes only these; the plain functions below them are for the module and its tests.
__load__ = [
    "settings",
    "install_needed",
    "validate_pillar",
    "render_config",
    "render_environment",
    "models",
    "proxy_status",
    "journal_tail",
    "health",
    "version",
    "master_key_fingerprint",
    "master_key_age",
    "rotate_master_key",
    "ensure_generated_master_key",
]

PILLAR_KEY = "litellm"
DEFAULT_TPLROOT = "litellm"
WEAK_MASTER_KEYS = {"sk-1234", "sk-12345678", "sk-changeme", "sk-master", "sk-test"}
# Releases published with malware (FACTS.md); never installable through the formula.
BAD_VERSIONS = {"1.82.7", "1.82.8"}
PROVIDERS = {
    # The role's `provider: ollama` means "an Ollama server": served through its chat API, which keeps
    # the message structure (the `ollama/` provider flattens chats into one prompt).
    "ollama": "ollama_chat",
    "ollama_chat": "ollama_chat",
}
ROUTING_STRATEGIES = {
    "simple-shuffle",
    "least-busy",
    "usage-based-routing",
    "usage-based-routing-v2",
    "latency-based-routing",
    "cost-based-routing",
}
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
# The litellm CLI's flag for each server it can run on (uvicorn is its default).
SERVERS = {"uvicorn": "", "gunicorn": "--run_gunicorn", "granian": "--run_granian"}
MAX_WORKERS = 64
# Memory one proxy worker costs, rounded up (README "Performance": about 350 MB PSS for one uvicorn
# worker, 760 MB for gunicorn with 2); `num_workers: auto` keeps all of them within half the RAM.
WORKER_MB = 512
STOP_HEADROOM_SECONDS = 15
# Per-token prices, written only for a model whose pillar sets one (the other then defaults to 0).
# Without them LiteLLM computes no cost for an Ollama model, as with its CLI; with them LiteLLM 1.108.7
# re-registers the model's pricing on every request (two cost-map scans and a model-info cache
# rebuild): 13-52% more CPU per request (README "Throughput defaults").
MODEL_PRICE_KEYS = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}
# Variables the litellm CLI reads by itself (FACTS.md) or that the formula owns: never from pillar.
RESERVED_ENV = {
    "LITELLM_MASTER_KEY",
    "HOST",
    "PORT",
    "NUM_WORKERS",
    "DEBUG",
    "DETAILED_DEBUG",
    "CONFIG_FILE_PATH",
    "LITELLM_MODE",
    "LITELLM_LOG",
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "OLLAMA_API_BASE",
    "HOME",
    "GRACEFUL_SHUTDOWN_TIMEOUT",
    "LITELLM_FORMULA_PROBE_INTERVAL",
    "LITELLM_FORMULA_PROBE_TIMEOUT",
    # Would let the proxy start with a missing or publicly known key.
    "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY",
}
# extra_config keys the formula owns or refuses: (section, key) -> why.
REFUSED_EXTRA_CONFIG = {
    ("general_settings", "master_key"): "the key comes from the environment file, never config.yaml",
    ("general_settings", "dangerously_permit_weak_or_unset_master_key"): "it lets the proxy run with a "
    "missing or publicly known key",
    ("litellm_settings", "set_verbose"): "it logs request details, keys included; use log_level",
    ("general_settings", "database_url"): "a database URL holds a password: pass it through `environment` "
    "as DATABASE_URL from a secret store instead",
}
MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
# files/default/{liveness,workarounds}.py, installed into the virtualenv's site-packages by
# package/install.sls and loaded by LiteLLM as callbacks.
LIVENESS_CALLBACK = "litellm_formula_liveness.liveness"
WORKAROUNDS_CALLBACK = "litellm_formula_workarounds.workarounds"
MASTER_KEY_RE = re.compile(r"^sk-[A-Za-z0-9_\-.]{13,}$")
NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
UNIT_RE = re.compile(r"^[A-Za-z0-9@_.\-:]+$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?$")
PIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(?:\[[A-Za-z0-9_,\-]+\])?==[A-Za-z0-9.+!\-]+$")
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/\-]*$")


def __virtual__():
    try:
        import salt.utils.http  # noqa: F401  pylint: disable=unused-import
    except ImportError as exc:  # pragma: no cover - salt always ships it
        return False, f"litellm: salt.utils.http unavailable: {exc}"
    return __virtualname__


# --------------------------------------------------------------------------------------------------
# Schema: every pillar key, once, with its type, check and one line of documentation.
# --------------------------------------------------------------------------------------------------


class Field:
    """One pillar key: ``types`` it may have, ``check`` returning what is allowed when it is bad."""

    def __init__(self, key, types, doc, check=None, secret=False):
        self.key = key
        self.types = types
        self.doc = doc
        self.check = check
        self.secret = secret


def _port(value):
    return None if 1024 <= value <= 65535 else "a port from 1024 to 65535"


def _positive(value):
    return None if value > 0 else "a number greater than 0"


def _non_negative(value):
    return None if value >= 0 else "a number from 0 up"


def _between(low, high):
    def check(value):
        return None if low <= value <= high else f"a whole number from {low} to {high}"

    return check


def _one_of(allowed):
    def check(value):
        return None if value in allowed else "one of " + ", ".join(sorted(allowed))

    return check


def _account(value):
    if value == "root":
        return "an unprivileged account name, not root"
    return None if NAME_RE.match(value) else "a lowercase account name ([a-z_][a-z0-9_-]*)"


def _unit_name(value):
    return None if UNIT_RE.match(value) else "a systemd unit name without .service"


def _absolute_path(value):
    if not value.startswith("/") or value.rstrip("/") == "" or ".." in value.split("/"):
        return "an absolute path, not / and without .."
    return None


def _state_dir(value):
    problem = _absolute_path(value)
    if problem or not value.startswith("/var/lib/") or value.rstrip("/") == "/var/lib":
        return "a directory under /var/lib/ (it is the unit's StateDirectory=)"
    return None


def _address(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::"
    return None


def _version(value):
    if value in BAD_VERSIONS:
        return "a release other than 1.82.7 and 1.82.8, which were published with malware"
    return None if VERSION_RE.match(value) else "an exact release such as 1.108.7 (no ranges, no latest)"


def _pins(value):
    bad = [item for item in value if not isinstance(item, str) or not PIN_RE.match(item)]
    return "exact pins such as prisma==0.15.0" if bad else None


def _urls(value):
    bad = [item for item in value if not isinstance(item, str) or backend_url_problem(item)]
    return "a list of http(s) URLs" if bad else None


def _strings(value):
    return "a list of strings" if any(not isinstance(item, str) for item in value) else None


def _no_newline(value):
    return "a single line" if "\n" in value or "\r" in value else None


def _pip_index(value):
    if value == "":
        return None
    return None if urllib.parse.urlsplit(value).scheme in ("http", "https", "file") else "an http(s) or file URL"


SYSTEMD_IP_KEYWORDS = {"any", "localhost", "link-local", "multicast"}


def _ip_allow(value):
    for item in value:
        if not isinstance(item, str):
            return "a list of networks (10.0.0.0/8, fd00::/8, 192.0.2.7) or any, localhost, link-local, multicast"
        if item in SYSTEMD_IP_KEYWORDS:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"networks such as 10.0.0.0/8 or 192.0.2.7 (not {item!r}), or any, localhost, link-local, multicast"
    if "any" in value and len(value) > 1:
        return "either [any] (no IP firewall) or a list of networks, not both"
    return None


def _log_level(value):
    return None if value in LOG_LEVELS else "one of " + ", ".join(sorted(LOG_LEVELS))


def _workers(value):
    if value == "auto" or (isinstance(value, int) and 1 <= value <= MAX_WORKERS):
        return None
    return f"a whole number from 1 to {MAX_WORKERS}, or auto (one per CPU core)"


NUMBER = (int, float)
SCHEMA = [
    Field("service_name", str, "systemd unit name (without .service)", _unit_name),
    Field("service_user", str, "system user the proxy runs as (never root)", _account),
    Field("service_group", str, "system group of the service user", _account),
    Field("service_description", str, "the unit's Description=", _no_newline),
    Field("bind_host", str, "address the proxy listens on", _address),
    Field("bind_port", int, "TCP port the proxy listens on", _port),
    Field("backends", list, "Ollama base URLs (scheme://host:port, no path)", _urls),
    Field("models", list, "models served: {name, model, provider: ollama, backends?, timeout?, stream_timeout?, "
          "input_cost_per_token?, output_cost_per_token?}"),
    Field("master_key", str, "the proxy's master key (sk-...), ideally from a secret store or sdb://", secret=True),
    Field("master_key_source", str, "`pillar` (master_key is authoritative) or `generate` (minion keeps its own)",
          _one_of({"pillar", "generate"})),
    Field("version", str, "exact LiteLLM release installed into the virtualenv", _version),
    Field("extra_pip_packages", list, "extra pinned packages for the virtualenv", _pins),
    Field("pip", dict, "pip source settings"),
    Field("pip:index_url", str, "package index URL ('' = pip's default)", _pip_index),
    Field("pip:extra_index_urls", list, "additional package index URLs", _strings),
    Field("pip:find_links", list, "local directories or URLs holding wheels (air-gapped installs)", _strings),
    Field("pip:no_index", bool, "install only from find_links"),
    Field("python", str, "interpreter that builds the virtualenv (an OS Python, not under /root)", _absolute_path),
    Field("pkgs", list, "OS packages providing Python with venv support", _strings),
    Field("install_dir", str, "base directory; the virtualenv is <install_dir>/venv", _absolute_path),
    Field("config_dir", str, "directory of config.yaml and the environment files", _absolute_path),
    Field("state_dir", str, "the service user's home and StateDirectory (under /var/lib/)", _state_dir),
    Field("environment", dict, "extra environment variables for the proxy (not the reserved ones)"),
    Field("log_level", str, "LITELLM_LOG level (INFO logs every request: about 4 lines each)", _log_level),
    Field("server", str, "HTTP server the proxy runs on: gunicorn, uvicorn or granian (all ship with LiteLLM)",
          _one_of(SERVERS)),
    Field("num_workers", (int, str), f"proxy worker processes: 1 to {MAX_WORKERS}, or auto (one per CPU core, "
          f"at most half the RAM at {WORKER_MB} MB each)", _workers),
    Field("router", dict, "router settings (failover and timeouts)"),
    Field("router:routing_strategy", str, "LiteLLM routing strategy", _one_of(ROUTING_STRATEGIES)),
    Field("router:enable_weighted_failover", bool, "a failed attempt re-picks among the other deployments"),
    Field("router:num_retries", int, "retries after a failed attempt", _between(0, 10)),
    Field("router:disable_cooldowns", bool, "no cooldowns: the liveness probes decide what is down, so a busy "
          "backend's 503 or timeout never takes a whole model out"),
    Field("router:allowed_fails", int, "failures before a deployment cools down (with disable_cooldowns: false)",
          _between(0, 100)),
    Field("router:cooldown_time", NUMBER, "seconds a failing deployment is skipped (with disable_cooldowns: false)",
          _non_negative),
    Field("router:timeout", NUMBER, "seconds for a whole non-streaming answer (per attempt)", _positive),
    Field("router:stream_timeout", NUMBER, "seconds to the first streamed token (model load included)", _positive),
    Field("health_check", dict, "liveness probes of every backend (GET /api/version: no generation, no model load)"),
    Field("health_check:enabled", bool, "probe backends in each worker, route around down ones and abort what "
          "waits on a backend that stops answering"),
    Field("health_check:interval", int, "seconds between probes; a request on a hung backend is retried elsewhere "
          "within interval + timeout", _between(1, 3600)),
    Field("health_check:timeout", NUMBER, "seconds a backend may take to answer /api/version before it counts as down",
          _positive),
    Field("health_check:max_tokens", int, "tokens per deployment when someone calls the proxy's own /health "
          "(never 0: Ollama reads it as unlimited)", _between(1, 64)),
    Field("startup_timeout", int, "seconds an apply waits for the proxy after a (re)start", _between(5, 900)),
    Field("shutdown_timeout", int, "seconds a stop lets in-flight requests finish (GRACEFUL_SHUTDOWN_TIMEOUT); "
          "systemd's TimeoutStopSec= is set above it", _between(0, 3600)),
    Field("ip_address_allow", list, "networks the proxy may talk to (clients and backends): IPAddressDeny=any plus "
          "these, localhost and literal backend addresses; [any] turns the IP firewall off", _ip_allow),
    Field("extra_config", dict, "merged last into config.yaml (escape hatch for LiteLLM settings)"),
    Field("clean_remove_user", bool, "litellm.clean also removes the service user and group"),
]
SCHEMA_BY_KEY = {field.key: field for field in SCHEMA}
MODEL_KEYS = {"name", "model", "provider", "backends", "timeout", "stream_timeout"} | set(MODEL_PRICE_KEYS)


def _type_name(types):
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list", dict: "a mapping"}
    if isinstance(types, tuple):
        return " or ".join(names[t] for t in types if t is not float or int not in types) \
            if types != NUMBER else "a number"
    return names[types]


def _is_type(value, types):
    # YAML booleans are ints to Python; never accept one where a number belongs, or the reverse.
    if isinstance(value, bool):
        return types is bool or (isinstance(types, tuple) and bool in types)
    return isinstance(value, types)


def _show(value, secret=False):
    if secret:
        return "(secret, not shown)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _lookup(settings, key):
    node = settings
    for part in key.split(":"):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def backend_url_problem(url):
    """Say what is wrong with an Ollama base URL, or return None."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "a URL with a valid port"
    if parts.scheme not in ("http", "https"):
        return "an http:// or https:// URL"
    if not parts.hostname:
        return "a URL with a host"
    if parts.username or parts.password:
        return "a URL without credentials (user:password@)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "a base URL without a path such as /v1 (e.g. http://host:11434)"
    if port == 0:
        return "a URL with a valid port"
    return None


def normalize_backend(url):
    """``http://Host:11434/`` -> ``http://host:11434`` (lowercase host, no trailing slash)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return f"{parts.scheme}://{netloc}"


def _validate_fields(settings, errors):
    known_top = {key for key in SCHEMA_BY_KEY if ":" not in key}
    for key in sorted(set(settings) - known_top):
        errors.append(f"{PILLAR_KEY}:{key}: unknown key (known keys: see pillar.example)")
    for field in SCHEMA:
        present, value = _lookup(settings, field.key)
        if not present:
            continue  # master_key may be absent (checked apart); defaults hold every other key
        where = f"{PILLAR_KEY}:{field.key}"
        if not _is_type(value, field.types):
            errors.append(f"{where}: got {_show(value, field.secret)}, expected {_type_name(field.types)}")
            continue
        if field.check:
            allowed = field.check(value)
            if allowed:
                errors.append(f"{where}: got {_show(value, field.secret)}, expected {allowed}")
    for group in ("pip", "router", "health_check"):
        present, value = _lookup(settings, group)
        if present and isinstance(value, dict):
            known = {key.split(":", 1)[1] for key in SCHEMA_BY_KEY if key.startswith(group + ":")}
            for key in sorted(set(value) - known):
                errors.append(f"{PILLAR_KEY}:{group}:{key}: unknown key (known: {', '.join(sorted(known))})")


def _validate_backends(settings, errors):
    backends = settings.get("backends")
    if not isinstance(backends, list) or any(not isinstance(b, str) for b in backends):
        return []
    if not backends:
        errors.append(f"{PILLAR_KEY}:backends: got [], expected at least one Ollama base URL")
        return []
    normalized = []
    for index, url in enumerate(backends):
        problem = backend_url_problem(url)
        if problem:
            errors.append(f"{PILLAR_KEY}:backends:{index}: got {_show(url)}, expected {problem}")
            continue
        norm = normalize_backend(url)
        if norm in normalized:
            errors.append(f"{PILLAR_KEY}:backends:{index}: {_show(url)} is listed twice")
        normalized.append(norm)
    return normalized


def _validate_models(settings, backends, errors):
    models = settings.get("models")
    if not isinstance(models, list):
        return
    if not models:
        errors.append(f"{PILLAR_KEY}:models: got [], expected at least one model {{name, model}}")
        return
    seen = {}
    for index, model in enumerate(models):
        where = f"{PILLAR_KEY}:models:{index}"
        if not isinstance(model, dict):
            errors.append(f"{where}: got {_show(model)}, expected a mapping {{name, model, provider}}")
            continue
        for key in sorted(set(model) - MODEL_KEYS):
            errors.append(f"{where}:{key}: unknown key (known: {', '.join(sorted(MODEL_KEYS))})")
        name = model.get("name")
        if not isinstance(name, str) or not MODEL_NAME_RE.match(name):
            errors.append(f"{where}:name: got {_show(name)}, expected a model name such as phi3-3.8b")
        tag = model.get("model")
        if not isinstance(tag, str) or not tag.strip() or any(c.isspace() for c in tag):
            errors.append(f"{where}:model: got {_show(tag)}, expected an Ollama model tag such as phi3:3.8b")
        provider = model.get("provider", "ollama")
        if provider not in PROVIDERS:
            errors.append(f"{where}:provider: got {_show(provider)}, expected one of {', '.join(sorted(PROVIDERS))}")
        for key in ("timeout", "stream_timeout"):
            if key in model and (not _is_type(model[key], NUMBER) or model[key] <= 0):
                errors.append(f"{where}:{key}: got {_show(model[key])}, expected a number greater than 0")
        for key in sorted(MODEL_PRICE_KEYS):
            if key in model and (not _is_type(model[key], NUMBER) or model[key] < 0):
                errors.append(f"{where}:{key}: got {_show(model[key])}, expected a number from 0 up "
                              "(currency units per token)")
        own = model.get("backends")
        if own is not None:
            if not isinstance(own, list) or not own or any(not isinstance(b, str) for b in own):
                errors.append(f"{where}:backends: got {_show(own)}, expected a non-empty list of URLs from "
                              f"{PILLAR_KEY}:backends")
                own = None
            else:
                for url in own:
                    if backend_url_problem(url) or normalize_backend(url) not in backends:
                        errors.append(f"{where}:backends: {_show(url)} is not listed in {PILLAR_KEY}:backends")
        if isinstance(name, str):
            if name in seen:
                errors.append(f"{where}:name: {name!r} is already defined by {PILLAR_KEY}:models:{seen[name]} "
                              "(give each model one entry; list its backends there)")
            else:
                seen[name] = index


def _validate_environment(settings, errors):
    env = settings.get("environment")
    if not isinstance(env, dict):
        return
    for name, value in env.items():
        where = f"{PILLAR_KEY}:environment:{name}"
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            errors.append(f"{where}: expected a variable name ([A-Za-z_][A-Za-z0-9_]*)")
        elif name.upper() in RESERVED_ENV:
            errors.append(f"{where}: reserved (the formula sets it from its own pillar key)")
        elif not isinstance(value, (str, int, float)) or isinstance(value, bool) or "\n" in str(value):
            errors.append(f"{where}: expected a single-line string or number")


def _validate_extra_config(settings, errors):
    extra = settings.get("extra_config")
    if not isinstance(extra, dict):
        return
    for (section, key), why in sorted(REFUSED_EXTRA_CONFIG.items()):
        if isinstance(extra.get(section), dict) and key in extra[section]:
            errors.append(f"{PILLAR_KEY}:extra_config:{section}:{key}: refused: {why}")
    if "model_list" in extra:
        errors.append(f"{PILLAR_KEY}:extra_config:model_list: refused: the formula builds it from "
                      f"{PILLAR_KEY}:models and {PILLAR_KEY}:backends")


def validate_settings(settings):
    """Return the list of problems in merged settings (empty when valid). Never shows secrets."""
    if not isinstance(settings, dict):
        return [f"{PILLAR_KEY}: got {_show(settings)}, expected a mapping"]
    errors = []
    _validate_fields(settings, errors)
    _validate_extra_config(settings, errors)
    if settings.get("master_key_source") == "generate" and settings.get("master_key") not in (None, ""):
        errors.append(f"{PILLAR_KEY}:master_key: set, but master_key_source is generate (the minion keeps its "
                      "own key); remove one of them")
    backends = _validate_backends(settings, errors)
    _validate_models(settings, backends, errors)
    _validate_environment(settings, errors)
    return errors


def master_key_problem(key):
    """Say what is wrong with a master key (never echoing it), or return None."""
    if key is None or key == "":
        return f"{PILLAR_KEY}:master_key: missing or empty; set it from a secret store (GPG pillar, Vault, sdb://)"
    if not isinstance(key, str):
        return f"{PILLAR_KEY}:master_key: expected a string"
    if key.startswith("sdb://"):
        return None
    if key in WEAK_MASTER_KEYS:
        return f"{PILLAR_KEY}:master_key: a well-known weak value; generate one (e.g. sk- plus 32 random characters)"
    if not MASTER_KEY_RE.match(key):
        return (f"{PILLAR_KEY}:master_key: expected 'sk-' followed by at least 13 characters from "
                "A-Z a-z 0-9 _ - .")
    return None


# --------------------------------------------------------------------------------------------------
# Settings -> files
# --------------------------------------------------------------------------------------------------


def deep_merge(base, override):
    """Recursive dict merge; lists and scalars in ``override`` replace those in ``base``."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_settings(defaults, os_family, pillar):
    """defaults <- os_family <- pillar lookup <- top-level pillar (template-formula order)."""
    pillar = dict(pillar or {})
    lookup = pillar.pop("lookup", None) or {}
    merged = deep_merge(defaults or {}, os_family or {})
    merged = deep_merge(merged, lookup)
    return deep_merge(merged, pillar)


def deployment_id(model_name, backend):
    """Stable, unique, readable id per (model, backend): what x-litellm-model-id reports."""
    return f"{model_name}@{urllib.parse.urlsplit(normalize_backend(backend)).netloc}"


def model_backends(settings):
    """``{model name: [backend URLs]}`` as the proxy config will route them."""
    default = [normalize_backend(b) for b in settings["backends"]]
    return {
        model["name"]: [normalize_backend(b) for b in model["backends"]] if model.get("backends") else default
        for model in settings["models"]
    }


def proxy_config(settings):
    """The proxy's config.yaml as a dict. Holds no secret: the key comes from the environment."""
    router = settings["router"]
    health = settings["health_check"]
    backends_of = model_backends(settings)
    model_list = []
    for model in settings["models"]:
        params_extra = {key: model[key] for key in ("timeout", "stream_timeout") if key in model}
        if any(key in model for key in MODEL_PRICE_KEYS):
            params_extra.update({key: model.get(key, default) for key, default in sorted(MODEL_PRICE_KEYS.items())})
        prefix = PROVIDERS[model.get("provider", "ollama")]
        for backend in backends_of[model["name"]]:
            model_list.append(
                {
                    "model_name": model["name"],
                    "litellm_params": {"model": f"{prefix}/{model['model']}", "api_base": backend, **params_extra},
                    "model_info": {
                        "id": deployment_id(model["name"], backend),
                        "health_check_max_tokens": health["max_tokens"],
                    },
                }
            )
    config = {
        "model_list": model_list,
        "router_settings": {
            "routing_strategy": router["routing_strategy"],
            "enable_weighted_failover": router["enable_weighted_failover"],
            "disable_cooldowns": router["disable_cooldowns"],
            "num_retries": router["num_retries"],
            "allowed_fails": router["allowed_fails"],
            "cooldown_time": router["cooldown_time"],
            "timeout": router["timeout"],
            "stream_timeout": router["stream_timeout"],
        },
        "general_settings": {
            "master_key": f"os.environ/{MASTER_KEY_ENV}",
            # LiteLLM's own probes generate on every deployment: on a busy Ollama they queue, time out
            # and make the router refuse everything, and they load every model (README "Failover").
            "background_health_checks": False,
        },
        "litellm_settings": {"telemetry": False},
    }
    config = deep_merge(config, settings.get("extra_config") or {})
    ours = [WORKAROUNDS_CALLBACK] + ([LIVENESS_CALLBACK] if health["enabled"] else [])
    # Kept when extra_config brings callbacks of its own (a list replaces a list in the merge).
    theirs = config["litellm_settings"].get("callbacks") or []
    theirs = [theirs] if isinstance(theirs, str) else theirs  # LiteLLM takes one name as a string too
    config["litellm_settings"]["callbacks"] = ours + [c for c in theirs if c not in ours]
    return config


def service_environment(settings):
    """Non-secret environment of the service (the key has a file of its own)."""
    env = {
        # Offline start: no cost-map download, no telemetry, no .env file read (FACTS.md).
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY_DISABLED": "true",
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_LOG": settings["log_level"],
        "GRACEFUL_SHUTDOWN_TIMEOUT": str(settings["shutdown_timeout"]),
        # A worker killed by SIGSEGV in a native extension leaves its Python stack in the journal.
        "PYTHONFAULTHANDLER": "1",
        # The proxy probes /api/show here at startup, whatever api_base says.
        "OLLAMA_API_BASE": normalize_backend(settings["backends"][0]),
        # Read by the liveness callback (files/default/liveness.py).
        "LITELLM_FORMULA_PROBE_INTERVAL": str(settings["health_check"]["interval"]),
        "LITELLM_FORMULA_PROBE_TIMEOUT": str(settings["health_check"]["timeout"]),
    }
    env.update({name: str(value) for name, value in sorted((settings.get("environment") or {}).items())})
    return env


def env_file_text(env):
    """systemd EnvironmentFile= text: one KEY="value" per line, quotes and backslashes escaped."""
    lines = []
    for name, value in env.items():
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'{name}="{escaped}"')
    return "\n".join(lines) + "\n"


def stop_timeout(settings):
    """systemd TimeoutStopSec=: the drain window, plus the 10 s gunicorn adds for the app's teardown
    (LiteLLM's GRACEFUL_SHUTDOWN_TEARDOWN_HEADROOM_SECONDS), plus 5 s for the arbiter to exit."""
    return settings["shutdown_timeout"] + STOP_HEADROOM_SECONDS


def worker_count(settings, cpus, mem_mb=None):
    """Worker processes to start: the pillar's number, or for ``auto`` one per CPU core (a worker is
    CPU-bound: more than the cores does not pay), at most as many as half the RAM holds at
    WORKER_MB each (each worker is a whole LiteLLM)."""
    wanted = settings["num_workers"]
    if wanted != "auto":
        return wanted
    by_memory = int(mem_mb) // 2 // WORKER_MB if mem_mb else MAX_WORKERS
    return max(1, min(int(cpus or 1), by_memory, MAX_WORKERS))


def server_args(settings, cpus, mem_mb=None):
    """The litellm CLI arguments choosing the HTTP server and its worker count."""
    flag = SERVERS[settings["server"]]
    return ([flag] if flag else []) + ["--num_workers", str(worker_count(settings, cpus, mem_mb))]


def paths(settings):
    """Derived paths, one place."""
    config_dir = settings["config_dir"].rstrip("/")
    install_dir = settings["install_dir"].rstrip("/")
    return {
        "venv": f"{install_dir}/venv",
        "check_config": f"{install_dir}/libexec/check-config.py",
        "config_file": f"{config_dir}/config.yaml",
        "env_file": f"{config_dir}/litellm.env",
        "master_key_file": f"{config_dir}/master_key.env",
        "unit_file": f"/etc/systemd/system/{settings['service_name']}.service",
    }


def pip_pins(settings):
    """``[[distribution, version], ...]`` the virtualenv must hold (extras dropped)."""
    pins = [["litellm", settings["version"]]]
    for pin in settings["extra_pip_packages"]:
        name, _, version = pin.partition("==")
        pins.append([name.split("[", 1)[0], version])
    return pins


def _dist_key(name):
    # Wheel metadata directories carry the normalized name: Foo.Bar-Baz -> foo_bar_baz.
    return re.sub(r"[-_.]+", "_", name).lower()


def _site_dirs(venv):
    return sorted(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages")))


def installed_distributions(venv):
    """``{normalized name: version}`` of what a virtualenv holds, read from its *.dist-info
    directories: no interpreter started, so a no-op apply stays cheap."""
    found = {}
    for site in _site_dirs(venv):
        for entry in os.listdir(site):
            if entry.endswith(".dist-info"):
                name, _, version = entry[: -len(".dist-info")].rpartition("-")
                found[_dist_key(name)] = version
    return found


def site_packages(venv, python_version=None):
    """The virtualenv's site-packages directory: the one on disk, else the one a virtualenv made by
    an interpreter of ``python_version`` ("3.11") will have, else None."""
    found = _site_dirs(venv)
    if found:
        return found[0]
    if python_version:
        return os.path.join(venv, "lib", f"python{python_version}", "site-packages")
    return None


def missing_pins(pins, installed):
    """The ``[name, version]`` pins the virtualenv does not hold at exactly that version."""
    return [[name, version] for name, version in pins if installed.get(_dist_key(name)) != version]


def ip_address_allow(settings):
    """IPAddressAllow= entries for the unit, or None for no IP firewall (``[any]``).

    Localhost and every backend given as a literal address are always allowed; backends given by
    name must lie in the listed networks (with the DNS servers that resolve them).
    """
    listed = list(settings["ip_address_allow"])
    if listed == ["any"]:
        return None
    allowed = ["localhost"]
    for url in settings["backends"]:
        host = urllib.parse.urlsplit(url).hostname
        try:
            allowed.append(str(ipaddress.ip_address(host)))
        except ValueError:
            pass  # a name: covered by the listed networks
    for entry in listed:
        if entry not in allowed:
            allowed.append(entry)
    return allowed


def proxy_base_url(bind_host, bind_port):
    """Where a local client reaches the proxy: wildcard binds are reached through loopback."""
    address = ipaddress.ip_address(bind_host)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}:{bind_port}"


def read_env_file_value(path, name):
    """Read ``name`` from a systemd environment file; None when absent."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep and key == name:
                    value = value.strip()
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                        value = value[1:-1]
                    return value
    except FileNotFoundError:
        return None
    return None


# --------------------------------------------------------------------------------------------------
# HTTP checks (plain functions: tests call them against real servers)
# --------------------------------------------------------------------------------------------------

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


def _bearer(master_key):
    return {"Authorization": f"Bearer {master_key}"}


def proxy_calls(base_url, master_key, timeout):
    return {
        ("proxy", "liveliness"): (http_request, f"{base_url}/health/liveliness", timeout),
        ("proxy", "readiness"): (http_request, f"{base_url}/health/readiness", timeout),
        ("proxy", "models"): (http_request, f"{base_url}/v1/models", timeout, _bearer(master_key)),
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
                                       _bearer(master_key), body)
    return calls


def completion_report(result):
    if result["status"] == 200:
        choices = (_json(result["body"]) or {}).get("choices") or []
        ok = bool(choices) and isinstance(choices[0], dict)
        return {"ok": ok, "status": 200, "latency_ms": result["latency_ms"], "error": None if ok else "no choices"}
    error = result["error"]
    if not error:
        detail = (_json(result["body"]) or {}).get("error") or {}
        error = f"HTTP {result['status']}: " + str(detail.get("message", "") if isinstance(detail, dict) else detail)[:200]
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


# --------------------------------------------------------------------------------------------------
# Master key: files, fingerprints, ages
# --------------------------------------------------------------------------------------------------

MASTER_KEY_FILE_HEADER = "# Managed by Salt (litellm-formula). Root only.\n"
PILLAR_KEY_IS_AUTHORITATIVE = (
    "The master key comes from pillar litellm:master_key, which stays authoritative: a key rotated "
    "here would be put back by the next state.apply. Rotate it where it lives: put a new value in your "
    "secret store (GPG pillar, Vault), then run state.apply litellm (one restart). To let the minion "
    "rotate it, give master_key as an sdb:// URI whose driver can write, or set "
    "litellm:master_key_source: generate."
)
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def master_key_file_text(key):
    """The master-key environment file, byte for byte as the formula's template writes it."""
    return f"{MASTER_KEY_FILE_HEADER}{MASTER_KEY_ENV}={key}\n"


def fingerprint(key):
    """First 12 hex digits of the key's SHA-256: enough to tell keys apart, useless to an attacker."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def new_master_key():
    """A CSPRNG key: 'sk-' and 43 URL-safe characters (256 bits)."""
    return "sk-" + secrets.token_urlsafe(32)


def parse_age(value):
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or a number of seconds -> seconds (float)."""
    if isinstance(value, bool):
        raise ValueError(f"not an age: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
        if not match:
            raise ValueError(f"not an age: {value!r} (expected e.g. 30d, 12h, 90m, 45s, 2w)")
        seconds = float(match.group(1)) * AGE_UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"not an age: {value!r} (must be greater than 0)")
    return seconds


def format_age(seconds):
    """``273605`` -> ``3d 4h``: the two largest units, for people."""
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def key_source(settings):
    """Where the live key comes from: ``pillar`` (authoritative), ``sdb`` (writable store) or ``generate``."""
    if settings.get("master_key_source") == "generate":
        return "generate"
    key = settings.get("master_key")
    return "sdb" if isinstance(key, str) and key.startswith("sdb://") else "pillar"


def write_secret_file(path, text):
    """Replace ``path`` atomically (temp file in the same directory, fsync, rename), root only."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".master_key.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def wait_for_key(base_url, new_key, old_key, deadline, interval=0.5):
    """After a restart: wait until the proxy answers, then check that ``new_key`` is accepted and
    ``old_key`` refused. Returns None when so, else what is wrong."""
    problem = "the proxy did not answer"
    while time.monotonic() < deadline:
        live = http_request(f"{base_url}/health/liveliness", 2)
        if live["status"] == 200:
            new = http_request(f"{base_url}/v1/models", 5, _bearer(new_key))
            old = http_request(f"{base_url}/v1/models", 5, _bearer(old_key)) if old_key else {"status": 401}
            if new["status"] == 200 and old["status"] in (400, 401, 403):
                return None
            problem = (f"new key answered HTTP {new['status'] or new['error']}, "
                       f"old key answered HTTP {old['status'] or old.get('error')}")
            if new["status"] in (400, 401, 403):
                return problem  # up, but refusing the key: waiting will not help
        time.sleep(interval)
    return problem


# --------------------------------------------------------------------------------------------------
# Loader wiring
# --------------------------------------------------------------------------------------------------


def _read_parameters(tplroot, relpath):
    text = __salt__["cp.get_file_str"](f"salt://{tplroot}/parameters/{relpath}")
    if not text:
        return {}
    data = salt.utils.yaml.safe_load(text) or {}
    return data.get("values", {})


def _settings(tplroot=DEFAULT_TPLROOT):
    # Not cached in __context__: it outlives a job when the minion runs without multiprocessing,
    # and a stale pillar is worse than two small file reads.
    defaults = _read_parameters(tplroot, "defaults.yaml")
    if not defaults:
        raise CommandExecutionError(f"litellm: salt://{tplroot}/parameters/defaults.yaml not found")
    os_family = _read_parameters(tplroot, f"os_family/{__grains__.get('os_family', '')}.yaml")
    # Salt 3008 masks pillar values outside templates; these settings need the real ones.
    pillar = __salt__["pillar.get"](PILLAR_KEY, {}, unmask=True)
    if not isinstance(pillar, dict):
        raise CommandExecutionError(f"{PILLAR_KEY}: got {_show(pillar)}, expected a mapping")
    return merge_settings(defaults, os_family, pillar)


def _raise_if_invalid(errors):
    if errors:
        raise CommandExecutionError("Invalid pillar:\n  " + "\n  ".join(errors))


def _valid_settings(tplroot):
    merged = _settings(tplroot)
    _raise_if_invalid(validate_settings(merged))
    return merged


def settings(tplroot=DEFAULT_TPLROOT, validate=True):
    """
    Return the merged settings of this minion (defaults, os_family, pillar lookup, pillar), with the
    master key left out. Raises a clear error naming every bad pillar key when ``validate`` is true:
    the formula's ``map.jinja`` calls this, so a bad pillar fails the apply before any change.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.settings
    """
    merged = _valid_settings(tplroot) if validate else _settings(tplroot)
    public = {key: value for key, value in merged.items() if key != "master_key"}
    try:
        public["paths"] = paths(merged)
        public["unit_ip_address_allow"] = ip_address_allow(merged)
        public["server_args"] = " ".join(server_args(merged, __grains__.get("num_cpus"), __grains__.get("mem_total")))
        public["stop_timeout"] = stop_timeout(merged)
    except (KeyError, TypeError, AttributeError, ValueError):
        public["paths"] = {}  # unvalidated and broken: callers that need these validate first
        public["unit_ip_address_allow"] = None
        public["server_args"] = ""
        public["stop_timeout"] = None
    return public


def validate_pillar(tplroot=DEFAULT_TPLROOT, require_master_key=True):
    """
    Check the ``litellm`` pillar without touching the host. Returns ``True`` or raises an error that
    names each bad key, its value (never a secret) and what is allowed.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.validate_pillar
        salt '*' litellm.validate_pillar
    """
    merged = _settings(tplroot)
    errors = validate_settings(merged)
    if require_master_key and merged.get("master_key_source", "pillar") == "pillar":
        key = merged.get("master_key")
        problem = master_key_problem(key)
        if not problem and key.startswith("sdb://"):
            problem = master_key_problem(__salt__["sdb.get"](key))
            problem = problem and problem.replace("master_key:", f"master_key (resolved from {key}):", 1)
        if problem:
            errors.append(problem)
    _raise_if_invalid(errors)
    return True


def render_config(tplroot=DEFAULT_TPLROOT):
    """
    Return config.yaml as the formula renders it (no secret in it).

    CLI Example:

    .. code-block:: bash

        salt-call litellm.render_config
    """
    return salt.utils.yaml.safe_dump(proxy_config(settings(tplroot)), default_flow_style=False, sort_keys=False)


def render_environment(tplroot=DEFAULT_TPLROOT):
    """
    Return the text of the service's (non-secret) environment file.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.render_environment
    """
    return env_file_text(service_environment(settings(tplroot)))


def install_needed(tplroot=DEFAULT_TPLROOT):
    """
    Say what the package state still has to do: ``venv`` (true when the virtualenv has no python)
    and ``pins`` (the pinned packages missing or at another version). The formula renders the
    virtualenv and pip states only when there is work for them, which keeps a no-op apply cheap.
    ``site_packages`` is where the virtualenv's packages live (or will, once it is made), or None
    when neither the virtualenv nor the interpreter that makes it exists yet.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.install_needed
    """
    merged = _valid_settings(tplroot)
    venv = paths(merged)["venv"]
    return {
        "venv": not os.path.exists(os.path.join(venv, "bin", "python")),
        "pins": missing_pins(pip_pins(merged), installed_distributions(venv)),
        "site_packages": site_packages(venv) or site_packages(venv, _python_version(merged["python"])),
    }


def _python_version(python):
    # Only asked before the virtualenv exists (first apply): one interpreter start, not per apply.
    if not os.access(python, os.X_OK):
        return None
    out = __salt__["cmd.run_all"](
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], python_shell=False
    )
    return out["stdout"].strip() if out["retcode"] == 0 else None


def models(tplroot=DEFAULT_TPLROOT):
    """
    Return the configured model -> backends map.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.models
    """
    return model_backends(settings(tplroot))


def _master_key(merged):
    return read_env_file_value(paths(merged)["master_key_file"], MASTER_KEY_ENV)


def proxy_status(tplroot=DEFAULT_TPLROOT, timeout=5):
    """
    Check the local proxy once: /health/liveliness, /health/readiness, and /v1/models with the master
    key from the environment file, which must list every configured model. The key is not shown.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.proxy_status
    """
    merged = _settings(tplroot)
    return check_proxy(
        proxy_base_url(merged["bind_host"], merged["bind_port"]),
        _master_key(merged) or "",
        [model["name"] for model in merged["models"]],
        timeout=timeout,
    )


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


def journal_tail(name=None, lines=20, errors_only=False, tplroot=DEFAULT_TPLROOT):
    """
    Return the last lines the service wrote to the journal; with ``errors_only``, only the lines
    among them that look like errors (error, errno, traceback, exception, failed), each once.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.journal_tail lines=50
        salt-call litellm.journal_tail lines=500 errors_only=True
    """
    name = name or _settings(tplroot)["service_name"]
    result = __salt__["cmd.run_all"](
        ["journalctl", "-u", f"{name}.service", "-n", str(int(lines)), "--no-pager", "-o", "short-iso"],
        python_shell=False,
        ignore_retcode=True,
    )
    return error_lines(result["stdout"]) if errors_only else result["stdout"]


def _model_tags(merged):
    return {model["name"]: model["model"] for model in merged["models"]}


def health(deep=False, timeout=5, strict=False, url=None, tplroot=DEFAULT_TPLROOT):
    """
    Check the gateway and everything behind it, concurrently, each check bounded by ``timeout``
    seconds (the whole takes about the slowest check, not their sum):

    - the proxy on this minion: /health/liveliness, /health/readiness and /v1/models with the master
      key from the environment file, which must list every configured model (the key is never shown);
    - every Ollama backend directly: reachable, its version, latency, and whether each model it should
      serve is present (/api/tags);
    - with ``deep=True``, one real one-token completion per model through the proxy.

    Returns ``healthy`` (the gateway can serve every model), ``status`` (healthy, degraded: a backend
    is down or lacks a model, unhealthy), a one-line ``summary``, and per-proxy, per-backend and
    per-model detail (``backends_up``/``backends_total``). salt-call exits non-zero when not healthy,
    or also when degraded with ``strict=True``. ``url`` overrides the proxy's address.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.health
        salt-call litellm.health deep=True timeout=3
        salt -G 'roles:llm-proxy' litellm.health strict=True
    """
    merged = _valid_settings(tplroot)
    report = health_report(
        url or proxy_base_url(merged["bind_host"], merged["bind_port"]),
        _master_key(merged) or "",
        model_backends(merged),
        _model_tags(merged),
        timeout=float(timeout),
        deep=bool(deep),
    )
    if not report["healthy"] or (strict and report["status"] != "healthy"):
        __context__["retcode"] = 1
    return report


def version(tplroot=DEFAULT_TPLROOT):
    """
    Return the LiteLLM release installed in the service virtualenv and the one pillar pins.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.version
    """
    merged = _settings(tplroot)
    venv = paths(merged)["venv"]
    installed = None
    for site in sorted(glob.glob(f"{venv}/lib/python3*/site-packages/litellm-*.dist-info")):
        installed = os.path.basename(site)[len("litellm-"):-len(".dist-info")]
    return {"installed": installed, "pinned": merged["version"], "venv": venv}


def _key_file(merged):
    return paths(merged)["master_key_file"]


def master_key_fingerprint(tplroot=DEFAULT_TPLROOT):
    """
    Return the fingerprint (first 12 hex digits of the SHA-256) of the live master key, read from the
    environment file on this minion. The key itself is never returned.

    CLI Example:

    .. code-block:: bash

        salt '*' litellm.master_key_fingerprint
    """
    key = _master_key(_settings(tplroot))
    if not key:
        raise CommandExecutionError("no master key on this minion yet: apply the formula first")
    return fingerprint(key)


def master_key_age(max_age=None, tplroot=DEFAULT_TPLROOT):
    """
    Return how long the live master key has been in place (since its environment file last changed),
    with its fingerprint and where it comes from (pillar, sdb or generate). With ``max_age`` (``30d``,
    ``12h``, ``90m``, ``2w`` or seconds), ``due`` says whether it is older than that.

    CLI Example:

    .. code-block:: bash

        salt '*' litellm.master_key_age
        salt '*' litellm.master_key_age max_age=30d
    """
    try:
        limit = None if max_age is None else parse_age(max_age)
    except ValueError as exc:
        raise CommandExecutionError(f"max_age: {exc}") from exc
    merged = _settings(tplroot)
    path = _key_file(merged)
    key = _master_key(merged)
    if not key:
        raise CommandExecutionError("no master key on this minion yet: apply the formula first")
    mtime = os.stat(path).st_mtime
    seconds = max(0.0, time.time() - mtime)
    return {
        "seconds": int(seconds),
        "age": format_age(seconds),
        "since": datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint(key),
        "source": key_source(merged),
        "due": None if limit is None else seconds >= limit,
    }


def _fire_event(tag, data):
    # Masterless minions have no master to send to: keep the event on the local bus.
    if __opts__.get("file_client") == "local" or __opts__.get("master_type") == "disable":
        return __salt__["event.fire"](data, tag)
    return __salt__["event.send"](tag, data)


def _install_key(merged, source, key):
    if source == "sdb" and not __salt__["sdb.set"](merged["master_key"], key):
        raise CommandExecutionError(f"sdb.set refused the new key for {merged['master_key']}")
    write_secret_file(_key_file(merged), master_key_file_text(key))


def _restart_and_verify(merged, new_key, old_key):
    unit = f"{merged['service_name']}.service"
    # A unit that hit its start limit refuses restarts until reset.
    __salt__["cmd.run_all"](["systemctl", "reset-failed", unit], python_shell=False, ignore_retcode=True)
    restart = __salt__["cmd.run_all"](["systemctl", "restart", unit], python_shell=False, ignore_retcode=True)
    if restart["retcode"] != 0:
        # Definitive (e.g. a failing ExecStartPre): no point waiting for the proxy.
        return f"systemctl restart {unit} failed: {(restart['stderr'] or restart['stdout']).strip()[:300]}"
    deadline = time.monotonic() + merged["startup_timeout"]
    base_url = proxy_base_url(merged["bind_host"], merged["bind_port"])
    return wait_for_key(base_url, new_key, old_key, deadline)


def rotate_master_key(test=False, tplroot=DEFAULT_TPLROOT):
    """
    Replace the master key with a new CSPRNG key ('sk-' plus 43 URL-safe characters): write it
    atomically (root only), restart the service, and verify that the new key is accepted and the old
    one refused. On any failure the old key is put back, the service restarted and verified again, and
    the result says it rolled back (salt-call exits non-zero). Returns fingerprints and times, never
    a key, and fires ``salt/litellm/master_key/rotated`` carrying the fingerprint only.

    A key given in pillar stays authoritative and is not rotated here (the function explains how to
    rotate it); an ``sdb://`` key is rotated through ``sdb.set``; a generated key
    (``master_key_source: generate``) is rotated in place.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.rotate_master_key
        salt-call litellm.rotate_master_key test=True
    """
    merged = _valid_settings(tplroot)
    source = key_source(merged)
    if source == "pillar":
        raise CommandExecutionError(PILLAR_KEY_IS_AUTHORITATIVE)
    old_key = _master_key(merged)
    if not old_key:
        raise CommandExecutionError("no master key on this minion yet: apply the formula first")
    service = merged["service_name"]
    if test or __opts__.get("test"):
        return {"result": None, "rotated": False, "source": source, "fingerprint": fingerprint(old_key),
                "comment": f"Would rotate the master key of {service} (now {fingerprint(old_key)}, from {source}), "
                           "restart it and verify the new key"}
    started = time.monotonic()
    new_key = new_master_key()
    _install_key(merged, source, new_key)
    problem = _restart_and_verify(merged, new_key, old_key)
    result = {"source": source, "previous_fingerprint": fingerprint(old_key)}
    if problem is None:
        rotated_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result.update({"result": True, "rotated": True, "rolled_back": False, "fingerprint": fingerprint(new_key),
                       "rotated_at": rotated_at, "duration_s": round(time.monotonic() - started, 1),
                       "comment": f"Rotated the master key of {service} and verified it"})
        _fire_event("salt/litellm/master_key/rotated",
                    {"service": service, "fingerprint": fingerprint(new_key),
                     "previous_fingerprint": fingerprint(old_key), "rotated_at": rotated_at})
        return result
    # Roll back: the old key, a restart, and proof that the old key works again.
    _install_key(merged, source, old_key)
    rollback_problem = _restart_and_verify(merged, old_key, None)
    __context__["retcode"] = 1
    result.update({"result": False, "rotated": False, "rolled_back": True, "fingerprint": fingerprint(old_key),
                   "duration_s": round(time.monotonic() - started, 1),
                   "comment": f"Rotation failed ({problem}); rolled back to the previous key"
                              + (f", but the proxy still fails: {rollback_problem}" if rollback_problem
                                 else ", which the proxy accepts again")})
    return result


def ensure_generated_master_key(path, test=False):
    """
    Create the master-key environment file with a new CSPRNG key if it holds no valid key (the
    ``master_key_source: generate`` mode); an existing key is never replaced. Returns the key's
    fingerprint and whether it was created. Used by the ``litellm.master_key_generated`` state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.ensure_generated_master_key /etc/litellm/master_key.env
    """
    current = read_env_file_value(path, MASTER_KEY_ENV)
    if current and master_key_problem(current) is None:
        return {"created": False, "fingerprint": fingerprint(current)}
    if test:
        return {"created": None, "fingerprint": None}
    key = new_master_key()
    write_secret_file(path, master_key_file_text(key))
    return {"created": True, "fingerprint": fingerprint(key)}
