"""
The pillar schema: every key once, with its type, its check and one line of documentation, and the
merge of defaults, per-OS values and pillar. Pure Python: no Salt, no I/O.
"""

import ipaddress
import posixpath
import re
import urllib.parse

PILLAR_KEY = "litellm"
WEAK_MASTER_KEYS = {"sk-1234", "sk-12345678", "sk-changeme", "sk-master", "sk-test"}
# Releases published with malware (March 2026 incident); never installable through the formula.
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
LOG_FORMATS = {"text", "json"}
LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
# The litellm CLI's flag for each server it can run on (uvicorn is its default).
SERVERS = {"uvicorn": "", "gunicorn": "--run_gunicorn", "granian": "--run_granian"}
MAX_WORKERS = 64
# Memory one proxy worker costs, rounded up (docs/performance.md: about 350 MB PSS for one uvicorn
# worker, 760 MB for gunicorn with 2); `num_workers: auto` keeps all of them within half the RAM.
WORKER_MB = 512
STOP_HEADROOM_SECONDS = 15
# Per-token prices, written only for a model whose pillar sets one (the other then defaults to 0).
# Without them LiteLLM computes no cost for an Ollama model, as with its CLI; with them LiteLLM 1.108.7
# re-registers the model's pricing on every request (two cost-map scans and a model-info cache
# rebuild): 13-52% more CPU per request (docs/performance.md).
MODEL_PRICE_KEYS = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}
# Variables the litellm CLI reads by itself (HOST, PORT, ...) or that the formula owns: never from pillar.
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
    # metrics, log_format, tls and probes set these.
    "LITELLM_FORMULA_PROBE_LISTEN",
    "PROMETHEUS_MULTIPROC_DIR",
    "PROMETHEUS_METRICS_PORT",
    "JSON_LOGS",
    "SSL_KEYFILE_PATH",
    "SSL_CERTFILE_PATH",
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
# Where the formula keeps its deployment records and ledgers (root only); never a state_dir.
RECORD_DIR = "/var/lib/litellm-formula"
# The formula's directories: each its own, named after the service (litellm, litellm-prod, ...),
# directly under one of these parents. Nothing else is created, re-owned or removed: not a system
# directory, not its parent, not another package's (ownership.py checks the host as well).
OWNED_PARENTS = {
    "install_dir": ("/opt", "/srv", "/usr/local/lib"),
    "config_dir": ("/etc", "/usr/local/etc"),
    "state_dir": ("/var/lib",),
}
# What pillar may hand over to the formula when it already exists (litellm:adopt).
ADOPTABLE = ("service_name", "service_user", "service_group", "install_dir", "config_dir", "state_dir")
# Never a service, user or group name of the formula: the system's own, and neighbours' well-known ones.
SYSTEM_NAMES = {
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
    "backup", "list", "irc", "gnats", "nobody", "nogroup", "adm", "tty", "disk", "kmem", "dialout", "cdrom",
    "floppy", "audio", "video", "plugdev", "users", "staff", "shadow", "utmp", "sudo", "wheel", "operator",
    "messagebus", "sshd", "ssh", "_apt", "apt", "dpkg", "dbus", "polkitd", "syslog", "cron", "getty", "udev",
    "init", "systemd", "network", "networking", "salt", "salt-master", "salt-minion", "salt-api", "postgres",
    "redis", "redis-server", "prometheus", "nginx", "ollama", "litellm-formula",
}
UNIT_SUFFIXES = (".service", ".socket", ".target", ".timer", ".mount", ".slice", ".scope", ".path", ".device",
                 ".swap", ".automount")
# files/default/{liveness,workarounds}.py, installed into the virtualenv's site-packages by
# package/install.sls and loaded by LiteLLM as callbacks.
LIVENESS_CALLBACK = "litellm_formula_liveness.liveness"
WORKAROUNDS_CALLBACK = "litellm_formula_workarounds.workarounds"
PROBES_CALLBACK = "litellm_formula_probes.probes"
MASTER_KEY_RE = re.compile(r"^sk-[A-Za-z0-9_\-.]{13,}$")
NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
UNIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
PATH_RE = re.compile(r"^(/[A-Za-z0-9._\-]+)+$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.post\d+)?$")
PIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(?:\[[A-Za-z0-9_,\-]+\])?==[A-Za-z0-9.+!\-]+$")
INTERPRETER_RE = re.compile(r"^/[A-Za-z0-9._/\-]+$")
# LiteLLM 1.108.7's wheel says Requires-Python >= 3.10.
MIN_PYTHON = (3, 10)
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/\-]*$")



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


def _system_name(value):
    if value in SYSTEM_NAMES or value.startswith("systemd-"):
        return "a name of the formula's own, not one the system or another service uses"
    return None


def _account(value):
    if value == "root":
        return "an unprivileged account name, not root"
    if not NAME_RE.match(value):
        return "a lowercase account name ([a-z_][a-z0-9_-]*)"
    return _system_name(value)


def _lock_file(value):
    if value and not (value.startswith("salt://") or value.startswith("/")) or any(c in value for c in "\n\r\0"):
        return "empty, a salt:// URL or an absolute path on the minion"
    return None


def _unit_name(value):
    if not UNIT_RE.match(value) or value.endswith(UNIT_SUFFIXES):
        return "a systemd unit name without .service (letters, digits, . _ -; no @)"
    return _system_name(value)


def _adopt(value):
    bad = [item for item in value if item not in ADOPTABLE]
    return "a list of: " + ", ".join(ADOPTABLE) if bad else None


def _absolute_path(value):
    if not value.startswith("/") or value.rstrip("/") == "" or ".." in value.split("/"):
        return "an absolute path, not / and without .."
    return None


def _optional_path(value):
    if value == "":
        return None
    if _absolute_path(value) or any(c in value for c in "\n\r\0 %"):
        return "empty, or an absolute path on the minion (no spaces or %, not /, without ..)"
    return None


def _pem(kind):
    def check(value):
        if value == "" or value.startswith("sdb://"):
            return None
        return None if f"{kind}-----" in value else f"empty, sdb://, or PEM text (-----BEGIN ...{kind}-----)"

    return check


def _interpreter(value):
    # Run as a command: a path of plain characters only, never anything a shell would read.
    if _absolute_path(value) or not INTERPRETER_RE.match(value):
        return "an absolute path to a Python interpreter such as /usr/bin/python3 (letters, digits, . _ - /)"
    return None


def python_problem(path, version):
    """``version`` ("3.9") of the interpreter at ``path`` -> why LiteLLM cannot run on it, or None."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except (AttributeError, ValueError):
        return f"{PILLAR_KEY}:python: {path} did not report its version; expected a Python interpreter"
    if found < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        return (f"{PILLAR_KEY}:python: {path} is Python {version}, but LiteLLM needs {wanted} or newer; "
                "install a newer interpreter (RHEL 9: the python3.11 package) and point litellm:python at it")
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
    if value == "" or value.startswith("sdb://"):
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
    Field("pip", dict, "pip source settings", secret=True),
    Field("pip:index_url", str, "package index URL ('' = pip's default); may hold credentials or be sdb://",
          _pip_index, secret=True),
    Field("pip:extra_index_urls", list, "additional package index URLs", _strings, secret=True),
    Field("pip:find_links", list, "local directories or URLs holding wheels (air-gapped installs)", _strings,
          secret=True),
    Field("pip:no_index", bool, "install only from find_links"),
    Field("python", str, "interpreter that builds the virtualenv (an OS Python, not under /root, "
          f"Python {'.'.join(map(str, MIN_PYTHON))} or newer)", _interpreter),
    Field("pkgs", list, "OS packages providing Python with venv support", _strings),
    Field("lock_file", str, "the hash lock pip installs from with --require-hashes: empty for the formula's own "
          "lock of `version` (litellm/files/default/locks/), else a salt:// URL or an absolute path on the minion; "
          "it must pin litellm at `version` and every extra_pip_packages pin", _lock_file),
    Field("install_dir", str, "the formula's own directory for the virtualenvs (<install_dir>/venvs/<version>-<lock>, "
          "run through the link <install_dir>/current): "
          "/opt/<service_name> when empty; named after the service, directly under /opt, /srv or /usr/local/lib"),
    Field("config_dir", str, "the formula's own directory for config.yaml and the environment files: "
          "/etc/<service_name> when empty; named after the service, directly under /etc or /usr/local/etc"),
    Field("state_dir", str, "the service user's home and StateDirectory=: /var/lib/<service_name> when empty; "
          "named after the service, directly under /var/lib"),
    Field("adopt", list, "existing things the formula may take over and then own (clean removes them): any of "
          + ", ".join(ADOPTABLE) + "; anything else that exists is refused", _adopt),
    Field("environment", dict, "extra environment variables for the proxy (not the reserved ones); values may be "
          "sdb:// and are kept secret", secret=True),
    Field("log_level", str, "LITELLM_LOG level (INFO logs every request: about 4 lines each)", _log_level),
    Field("log_format", str, "text, or json: one JSON object per line from LiteLLM (JSON_LOGS) for log shippers",
          _one_of(LOG_FORMATS)),
    Field("metrics", dict, "Prometheus metrics (LiteLLM's prometheus callback), summed over all workers"),
    Field("metrics:enabled", bool, "serve /metrics on 127.0.0.1:<metrics:port> (localhost only, no key); "
          "needs server: gunicorn"),
    Field("metrics:port", int, "localhost port of the metrics listener (not bind_port)", _port),
    Field("probes", dict, "liveness and readiness on a port of their own, answered while the workers are "
          "saturated (README \"Probes\")"),
    Field("probes:enabled", bool, "serve /health/liveliness and /health/readiness on bind_host:<probes:port> "
          "from a thread in each worker (plain HTTP, no key); litellm.health uses them"),
    Field("probes:port", int, "port of the probe listener (not bind_port, not metrics:port)", _port),
    Field("tls", dict, "HTTPS on the proxy's port: a certificate and its key, each as PEM text or as a file on "
          "the minion; both empty: plain HTTP. Needs systemd 248 or newer (credentials)", secret=True),
    Field("tls:certificate", str, "PEM certificate chain, leaf first (written to <config_dir>/tls/)",
          _pem("CERTIFICATE"), secret=True),
    Field("tls:certificate_file", str, "or: absolute path of the PEM certificate chain on the minion (never "
          "modified; a renewed file is picked up by the next apply)", _optional_path, secret=True),
    Field("tls:key", str, "PEM private key, ideally sdb:// or from a secret store (written root-only)",
          _pem("PRIVATE KEY"), secret=True),
    Field("tls:key_file", str, "or: absolute path of the PEM private key on the minion; may stay root-only "
          "(systemd hands the service a private copy: LoadCredential=)", _optional_path, secret=True),
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
          "systemd's TimeoutStopSec= is set above it. At least the longest request the router allows "
          "(router and model timeouts), so a planned restart cuts none", _between(0, 3600)),
    Field("max_requests_before_restart", int, "requests after which a gunicorn or uvicorn worker is replaced by "
          "a fresh one (0: never); bounds memory growth", _between(0, 10_000_000)),
    Field("max_requests_before_restart_jitter", int, "random extra requests per worker (0 to this) so workers are "
          "not all replaced at once", _between(0, 10_000_000)),
    Field("max_connections", int, "client connections the proxy holds at once: the socket's accept queue and, "
          "twice this plus 1024, LimitNOFILE= (each may hold a backend connection)", _between(64, 262_144)),
    Field("ip_address_allow", list, "networks the proxy may talk to (clients and backends): IPAddressDeny=any plus "
          "these, localhost and literal backend addresses; [any] turns the IP firewall off", _ip_allow),
    Field("extra_config", dict, "merged last into config.yaml (escape hatch for LiteLLM settings); secrets in it "
          "move to the root-only environment file", secret=True),
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
    for group in ("pip", "router", "health_check", "metrics", "tls", "probes"):
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
        elif name.upper() in RESERVED_ENV or name.upper().startswith("LITELLM_FORMULA_"):
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
    for where in _secrets_in_lists(extra, [f"{PILLAR_KEY}:extra_config"]):
        errors.append(f"{where}: refused: a secret (sdb:// or a URL with a password) in a list cannot be kept out "
                      "of config.yaml; put it in environment and write os.environ/<NAME> here")
    if "model_list" in extra:
        errors.append(f"{PILLAR_KEY}:extra_config:model_list: refused: the formula builds it from "
                      f"{PILLAR_KEY}:models and {PILLAR_KEY}:backends")


def _validate_dirs(settings, errors, prefix=""):
    """Each directory the formula's own: plain path, allowed parent, named after the service."""
    service = settings.get("service_name")
    for key, parents in OWNED_PARENTS.items():
        value = settings.get(key)
        if not isinstance(value, str):
            continue
        # ``prefix`` stands in for / in the functional tests (minion option litellm_path_prefix); the
        # state directory is systemd's, always under /var/lib.
        allowed = list(parents) + ([prefix + parent for parent in parents] if prefix and key != "state_dir" else [])
        path = value.rstrip("/")
        parent, base = posixpath.split(path)
        where = f"{PILLAR_KEY}:{key}: got {_show(value)}, expected"
        example = f"{allowed[0]}/{service}" if isinstance(service, str) else allowed[0] + "/litellm"
        if not PATH_RE.match(path) or any(part in (".", "..") for part in path.split("/")):
            errors.append(f"{where} an absolute path of plain characters (letters, digits, . _ -), such as {example}")
        elif parent not in allowed:
            errors.append(f"{where} a directory of the formula's own directly under {' or '.join(allowed)} "
                          f"(such as {example}), never a system directory or its parent")
        elif path == RECORD_DIR:
            errors.append(f"{where} a directory other than {RECORD_DIR} (the formula's records)")
        elif isinstance(service, str) and base != service and not base.startswith(service + "-"):
            errors.append(f"{where} a directory named after the service ({service} or {service}-...), such as "
                          f"{example}")


def fill_dirs(settings):
    """Empty directory keys follow the service name: /opt/<name>, /etc/<name>, /var/lib/<name>."""
    service = settings.get("service_name")
    if isinstance(service, str):
        for key, parents in OWNED_PARENTS.items():
            if settings.get(key) == "":
                settings[key] = f"{parents[0]}/{service}"
    return settings


SECRET_QUERY_RE = re.compile(r"(?i)[?&](token|sig|signature|key|api[_-]?key|secret|password|access[_-]?token)=")


def url_has_password(value):
    """A URL carrying a credential: a password, a user part alone (a token as user), or a query
    parameter named like one."""
    try:
        parts = urllib.parse.urlsplit(value)
        if not (parts.scheme and parts.netloc):
            return False
        return bool(parts.password or parts.username or SECRET_QUERY_RE.search("?" + parts.query))
    except ValueError:
        return False


def _secrets_in_lists(node, path, in_list=False):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _secrets_in_lists(value, path + [str(key)])
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _secrets_in_lists(item, path + [str(index)], in_list=True)
    elif in_list and isinstance(node, str) and (node.startswith("sdb://") or url_has_password(node)):
        yield ":".join(path)


def validate_settings(settings, prefix=""):
    """Return the list of problems in merged settings (empty when valid). Never shows secrets."""
    if not isinstance(settings, dict):
        return [f"{PILLAR_KEY}: got {_show(settings)}, expected a mapping"]
    errors = []
    _validate_fields(settings, errors)
    _validate_dirs(settings, errors, prefix)
    _validate_extra_config(settings, errors)
    if settings.get("master_key_source") == "generate" and settings.get("master_key") not in (None, ""):
        errors.append(f"{PILLAR_KEY}:master_key: set, but master_key_source is generate (the minion keeps its "
                      "own key); remove one of them")
    backends = _validate_backends(settings, errors)
    _validate_models(settings, backends, errors)
    _validate_environment(settings, errors)
    _validate_drain(settings, errors)
    _validate_metrics(settings, errors)
    _validate_probes(settings, errors)
    _validate_tls(settings, errors)
    return errors


def longest_request(settings):
    """``(seconds, pillar key)``: the longest a request may legitimately run (router or model timeouts)."""
    router = settings.get("router") if isinstance(settings.get("router"), dict) else {}
    found = [(router.get(key), f"router:{key}") for key in ("timeout", "stream_timeout")]
    models = settings.get("models") if isinstance(settings.get("models"), list) else []
    for index, model in enumerate(models):
        if isinstance(model, dict):
            found += [(model.get(key), f"models:{index}:{key}") for key in ("timeout", "stream_timeout")]
    found = [(value, key) for value, key in found if _is_type(value, NUMBER) and value > 0]
    return max(found, default=(0, None))


def _validate_drain(settings, errors):
    # A planned restart drains for shutdown_timeout seconds, then cuts what still runs.
    drain = settings.get("shutdown_timeout")
    longest, key = longest_request(settings)
    if _is_type(drain, int) and key and drain < longest:
        errors.append(f"{PILLAR_KEY}:shutdown_timeout: {drain} s is shorter than {PILLAR_KEY}:{key} ({longest:g} s): "
                      "a planned restart would cut requests the router allows; raise shutdown_timeout or lower "
                      "the timeout")
    jitter = settings.get("max_requests_before_restart_jitter")
    recycle = settings.get("max_requests_before_restart")
    if _is_type(jitter, int) and jitter and not recycle:
        errors.append(f"{PILLAR_KEY}:max_requests_before_restart_jitter: set without "
                      f"{PILLAR_KEY}:max_requests_before_restart (no effect alone)")
    if _is_type(recycle, int) and recycle:
        if settings.get("server") == "granian":
            errors.append(f"{PILLAR_KEY}:max_requests_before_restart: granian ignores it; use server: gunicorn")
        elif settings.get("num_workers") == 1:
            errors.append(f"{PILLAR_KEY}:max_requests_before_restart: with num_workers 1 the proxy has no worker "
                          "while the recycled one restarts; use 2 or more workers")


def _validate_metrics(settings, errors):
    metrics = settings.get("metrics") if isinstance(settings.get("metrics"), dict) else {}
    if metrics.get("enabled") is not True:
        return
    # LiteLLM binds the metrics listener to --host; only under socket activation is that free to be
    # 127.0.0.1 (the socket unit holds the public address), and only gunicorn sums workers' samples.
    if settings.get("server") != "gunicorn":
        errors.append(f"{PILLAR_KEY}:metrics:enabled: needs server: gunicorn (got {_show(settings.get('server'))})")
    if metrics.get("port") == settings.get("bind_port"):
        errors.append(f"{PILLAR_KEY}:metrics:port: {metrics.get('port')} is bind_port; choose another port")


def _validate_probes(settings, errors):
    probes = settings.get("probes") if isinstance(settings.get("probes"), dict) else {}
    if probes.get("enabled") is not True:
        return
    metrics = settings.get("metrics") if isinstance(settings.get("metrics"), dict) else {}
    taken = {settings.get("bind_port"): "bind_port"}
    if metrics.get("enabled") is True:
        taken[metrics.get("port")] = "metrics:port"
    if probes.get("port") in taken:
        errors.append(f"{PILLAR_KEY}:probes:port: {probes.get('port')} is {taken[probes.get('port')]}; "
                      "choose another port")


def tls_enabled(settings):
    tls = settings.get("tls") if isinstance(settings.get("tls"), dict) else {}
    return any(tls.get(key) for key in ("certificate", "certificate_file", "key", "key_file"))


def _validate_tls(settings, errors):
    tls = settings.get("tls") if isinstance(settings.get("tls"), dict) else {}
    if not tls_enabled(settings):
        return
    for what in ("certificate", "key"):
        given = [key for key in (what, f"{what}_file") if tls.get(key)]
        if len(given) == 2:
            errors.append(f"{PILLAR_KEY}:tls:{what}_file: set together with {PILLAR_KEY}:tls:{what}; use one")
        elif not given:
            errors.append(f"{PILLAR_KEY}:tls:{what}: missing (TLS needs a certificate and its key: set "
                          f"tls:{what} or tls:{what}_file)")
    tls_dir = f"{str(settings.get('config_dir') or '').rstrip('/')}/tls/"
    for what in ("certificate_file", "key_file"):
        path = tls.get(what)
        if isinstance(path, str) and settings.get("config_dir") and path.startswith(tls_dir):
            errors.append(f"{PILLAR_KEY}:tls:{what}: {path} is inside {tls_dir}, where the formula keeps its own "
                          "copies (and removes them); keep your files elsewhere")
    if bool(tls.get("certificate_file")) != bool(tls.get("key_file")) and not any(
            "missing" in error or "together" in error for error in errors if ":tls:" in error):
        errors.append(f"{PILLAR_KEY}:tls: give the certificate and the key the same way: both as PEM text "
                      "(tls:certificate, tls:key) or both as files (tls:certificate_file, tls:key_file)")


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
    return fill_dirs(deep_merge(merged, pillar))

