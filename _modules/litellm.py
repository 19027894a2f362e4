"""
Operate a LiteLLM proxy deployed by litellm-formula.

Reads the same settings the states use: ``salt://<tplroot>/parameters/defaults.yaml``, the
per-``os_family`` file, pillar ``litellm:lookup`` and top-level pillar ``litellm``, merged in that
order. The master key is read from the environment file on disk (root only), never printed.

The pure logic (schema, validation, config building, URL shaping) lives in plain functions at the
top of this file so tests call them directly; the public functions at the bottom only wire Salt's
dunders to them.
"""

import ipaddress
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "litellm"
# The loader exposes only these; the plain functions below them are for the module and its tests.
__load__ = [
    "settings",
    "validate_pillar",
    "render_config",
    "render_environment",
    "models",
    "proxy_status",
    "journal_tail",
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
}
MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
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


def _log_level(value):
    return None if value in LOG_LEVELS else "one of " + ", ".join(sorted(LOG_LEVELS))


NUMBER = (int, float)
SCHEMA = [
    Field("service_name", str, "systemd unit name (without .service)", _unit_name),
    Field("service_user", str, "system user the proxy runs as (never root)", _account),
    Field("service_group", str, "system group of the service user", _account),
    Field("service_description", str, "the unit's Description=", _no_newline),
    Field("bind_host", str, "address the proxy listens on", _address),
    Field("bind_port", int, "TCP port the proxy listens on", _port),
    Field("backends", list, "Ollama base URLs (scheme://host:port, no path)", _urls),
    Field("models", list, "models served: {name, model, provider: ollama, backends?, timeout?, stream_timeout?}"),
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
    Field("log_level", str, "LITELLM_LOG level", _log_level),
    Field("num_workers", int, "proxy worker processes", _between(1, 64)),
    Field("router", dict, "router settings (failover and timeouts)"),
    Field("router:routing_strategy", str, "LiteLLM routing strategy", _one_of(ROUTING_STRATEGIES)),
    Field("router:enable_weighted_failover", bool, "a failed attempt re-picks among the other deployments"),
    Field("router:num_retries", int, "retries after a failed attempt", _between(0, 10)),
    Field("router:allowed_fails", int, "failures before a deployment cools down", _between(0, 100)),
    Field("router:cooldown_time", NUMBER, "seconds a failing deployment is skipped", _non_negative),
    Field("router:timeout", NUMBER, "seconds for a whole non-streaming answer (per attempt)", _positive),
    Field("router:stream_timeout", NUMBER, "seconds to the first streamed token (model load included)", _positive),
    Field("health_check", dict, "background health checks of every deployment"),
    Field("health_check:enabled", bool, "probe deployments in the background and route around failures"),
    Field("health_check:interval", int, "seconds between probes (each is a 1-token generation)", _between(1, 3600)),
    Field("health_check:timeout", NUMBER, "seconds a probe may take", _positive),
    Field("health_check:max_tokens", int, "tokens a probe generates (never 0: Ollama reads it as unlimited)",
          _between(1, 64)),
    Field("startup_timeout", int, "seconds an apply waits for the proxy after a (re)start", _between(5, 900)),
    Field("ip_address_allow", list, "if set: IPAddressDeny=any plus these networks (clients and backends)", _strings),
    Field("extra_config", dict, "merged last into config.yaml (escape hatch for LiteLLM settings)"),
    Field("clean_remove_user", bool, "litellm.clean also removes the service user and group"),
]
SCHEMA_BY_KEY = {field.key: field for field in SCHEMA}
MODEL_KEYS = {"name", "model", "provider", "backends", "timeout", "stream_timeout"}


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


def validate_settings(settings):
    """Return the list of problems in merged settings (empty when valid). Never shows secrets."""
    if not isinstance(settings, dict):
        return [f"{PILLAR_KEY}: got {_show(settings)}, expected a mapping"]
    errors = []
    _validate_fields(settings, errors)
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
        prefix = PROVIDERS[model.get("provider", "ollama")]
        for backend in backends_of[model["name"]]:
            model_list.append(
                {
                    "model_name": model["name"],
                    "litellm_params": {"model": f"{prefix}/{model['model']}", "api_base": backend, **params_extra},
                    "model_info": {
                        "id": deployment_id(model["name"], backend),
                        "health_check_max_tokens": health["max_tokens"],
                        "health_check_timeout": health["timeout"],
                    },
                }
            )
    config = {
        "model_list": model_list,
        "router_settings": {
            "routing_strategy": router["routing_strategy"],
            "enable_weighted_failover": router["enable_weighted_failover"],
            "num_retries": router["num_retries"],
            "allowed_fails": router["allowed_fails"],
            "cooldown_time": router["cooldown_time"],
            "timeout": router["timeout"],
            "stream_timeout": router["stream_timeout"],
        },
        "general_settings": {
            "master_key": f"os.environ/{MASTER_KEY_ENV}",
            "background_health_checks": health["enabled"],
            "health_check_interval": health["interval"],
            "enable_health_check_routing": health["enabled"],
        },
        "litellm_settings": {"telemetry": False},
    }
    return deep_merge(config, settings.get("extra_config") or {})


def service_environment(settings):
    """Non-secret environment of the service (the key has a file of its own)."""
    env = {
        # Offline start: no cost-map download, no telemetry, no .env file read (FACTS.md).
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY_DISABLED": "true",
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_LOG": settings["log_level"],
        # The proxy probes /api/show here at startup, whatever api_base says.
        "OLLAMA_API_BASE": normalize_backend(settings["backends"][0]),
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


def check_proxy(base_url, master_key, expected_models, timeout=5):
    """Check a proxy: liveliness, readiness and /v1/models with the key (listing every model).

    Returns a dict with ``ok`` and per-endpoint detail; the key never appears in it.
    """
    live = http_request(f"{base_url}/health/liveliness", timeout)
    ready = http_request(f"{base_url}/health/readiness", timeout)
    listed = http_request(f"{base_url}/v1/models", timeout, headers={"Authorization": f"Bearer {master_key}"})
    served = sorted(item.get("id") for item in (_json(listed["body"]) or {}).get("data", []) or []
                    if isinstance(item, dict)) if listed["status"] == 200 else []
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
        "liveliness": {"ok": live["status"] == 200, "status": live["status"], "error": live["error"],
                       "latency_ms": live["latency_ms"]},
        "readiness": {"ok": ready["status"] == 200, "status": ready["status"], "error": ready["error"],
                      "latency_ms": ready["latency_ms"]},
        "models": {"ok": listed["status"] == 200 and not missing, "status": listed["status"],
                   "error": listed["error"], "auth": auth, "served": served, "missing": missing,
                   "latency_ms": listed["latency_ms"]},
    }
    report["ok"] = all(report[part]["ok"] for part in ("liveliness", "readiness", "models"))
    report["problem"] = None if report["ok"] else describe_proxy_problem(report)
    return report


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


def settings(tplroot=DEFAULT_TPLROOT, validate=True):
    """
    Return the merged settings of this minion (defaults, os_family, pillar lookup, pillar), with the
    master key left out. Raises a clear error naming every bad pillar key when ``validate`` is true:
    the formula's ``map.jinja`` calls this, so a bad pillar fails the apply before any change.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.settings
    """
    merged = _settings(tplroot)
    if validate:
        errors = validate_settings(merged)
        if errors:
            raise CommandExecutionError("Invalid pillar:\n  " + "\n  ".join(errors))
    public = {key: value for key, value in merged.items() if key != "master_key"}
    try:
        public["paths"] = paths(merged)
    except (KeyError, TypeError, AttributeError):
        public["paths"] = {}  # unvalidated and broken: callers that need paths validate first
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
    if errors:
        raise CommandExecutionError("Invalid pillar:\n  " + "\n  ".join(errors))
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


def journal_tail(name=None, lines=20, tplroot=DEFAULT_TPLROOT):
    """
    Return the last lines the service wrote to the journal.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.journal_tail lines=50
    """
    name = name or _settings(tplroot)["service_name"]
    result = __salt__["cmd.run_all"](
        ["journalctl", "-u", f"{name}.service", "-n", str(int(lines)), "--no-pager", "-o", "short-iso"],
        python_shell=False,
        ignore_retcode=True,
    )
    return result["stdout"]
