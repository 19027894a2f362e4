"""
Settings -> what the host gets: config.yaml, the environment file, the unit's values, paths, pins.
Pure Python: no Salt, no I/O.
"""

import hashlib
import ipaddress
import json
import re
import shlex
import urllib.parse

from .schema import (
    LIVENESS_CALLBACK,
    MASTER_KEY_ENV,
    MAX_WORKERS,
    MODEL_PRICE_KEYS,
    PROBES_CALLBACK,
    PROVIDERS,
    SERVERS,
    STOP_HEADROOM_SECONDS,
    WORKAROUNDS_CALLBACK,
    WORKER_MB,
    deep_merge,
    normalize_backend,
    tls_enabled,
    url_has_password,
)

# extra_config values that are secrets: under a key named like one, an sdb:// URI, or a URL with a
# password. config.yaml gets `os.environ/<NAME>` instead (LiteLLM resolves it at load, anywhere in the
# file), and the value goes to the root-only environment file (docs/secrets.md).
SECRET_NAME_RE = re.compile(r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|"
                            r"subscription[_-]?key|credential|auth|connection[_-]?string|(^|[_-])key$|(^|[_-])dsn$|"
                            r"webhook|(^|[_-])sig(nature)?$)")
SECRET_ENV_PREFIX = "LITELLM_FORMULA_SECRET_"
ENV_REF = "os.environ/"


def is_secret(key, value):
    """Whether an extra_config value under ``key`` is a secret (a string or a number under a key named
    like one; any sdb:// URI; a URL with a credential). A reference is not."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return False
    named = isinstance(key, str) and bool(SECRET_NAME_RE.search(key))
    if not isinstance(value, str):
        return named
    if value.startswith(ENV_REF):
        return False
    return value.startswith("sdb://") or url_has_password(value) or named


def _env_name(path):
    return SECRET_ENV_PREFIX + "_".join(re.sub(r"[^A-Za-z0-9]", "_", str(part)).upper() for part in path)


def split_secrets(extra_config):
    """``(extra_config with every secret replaced by os.environ/<NAME>, {NAME: secret})``. Strings in a
    list are left alone: LiteLLM resolves references only as mapping values (the schema refuses a
    secret there)."""
    secrets = {}

    def walk(node, path):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if is_secret(key, value):
                    name = base = _env_name(path + [key])
                    suffix = 2
                    while name in secrets:  # a_b.password and a.b_password: both kept
                        name, suffix = f"{base}_{suffix}", suffix + 1
                    secrets[name] = str(value)
                    out[key] = ENV_REF + name
                else:
                    out[key] = walk(value, path + [key])
            return out
        if isinstance(node, list):
            return [walk(item, path + [index]) if isinstance(item, dict) else item for index, item in enumerate(node)]
        return node

    return walk(extra_config or {}, []), secrets


def secret_references(settings):
    """``[(pillar key, value)]`` of every value that may hold a secret (each may be an sdb:// URI)."""
    found = [(f"environment:{name}", str(value)) for name, value in sorted((settings.get("environment") or {}).items())]
    moved = split_secrets(settings.get("extra_config"))[1]
    found += [(f"extra_config ({name})", value) for name, value in moved.items()]
    pip = settings.get("pip") or {}
    if pip.get("index_url"):
        found.append(("pip:index_url", pip["index_url"]))
    found += [(f"pip:extra_index_urls:{index}", url) for index, url in enumerate(pip.get("extra_index_urls") or [])]
    found += [(f"pip:find_links:{index}", url) for index, url in enumerate(pip.get("find_links") or [])]
    return found


def redacted(settings):
    """Settings safe to return (the master key apart): environment values hidden, extra_config with
    its secrets as references, credentials in pip URLs hidden; sdb:// URIs (names, not values) kept."""
    def hide(value):
        if isinstance(value, str) and value.startswith("sdb://"):
            return value
        if isinstance(value, str) and url_has_password(value):
            parts = urllib.parse.urlsplit(value)
            netloc = "****@" + parts.netloc.rsplit("@", 1)[-1]
            return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query="****" if parts.query else ""))
        return value

    public = {key: value for key, value in settings.items() if key != "master_key"}
    if "tls" in settings:
        public["tls"] = _redacted_tls(settings["tls"])
    env, extra, pip = settings.get("environment"), settings.get("extra_config"), settings.get("pip")
    if not all(isinstance(value, dict) for value in (env or {}, extra or {}, pip or {})):
        return {**public, "environment": "(hidden)", "extra_config": "(hidden)", "pip": "(hidden)"}
    public["environment"] = {name: hide(value) if str(value).startswith("sdb://") else "(hidden)"
                             for name, value in (env or {}).items()}
    public["extra_config"] = split_secrets(extra)[0]
    pip = dict(pip or {})
    for key in ("index_url",):
        if pip.get(key):
            pip[key] = hide(pip[key])
    for key in ("extra_index_urls", "find_links"):
        pip[key] = [hide(url) for url in pip.get(key) or []] if isinstance(pip.get(key) or [], list) else "(hidden)"
    public["pip"] = pip
    return public


def _redacted_tls(tls):
    # The certificate is public, but a key pasted into the wrong field must not come back either:
    # only paths and sdb:// URIs are shown, texts by their presence.
    if not isinstance(tls, dict):
        return "(hidden)"
    def show(value):
        return value if isinstance(value, str) and (value == "" or value.startswith(("sdb://", "/"))) else "(hidden)"
    return {key: show(value) for key, value in tls.items()}


def pip_config_text(pip):
    """pip.conf for the formula's installs: every package source (credentials included) lives here,
    root only, never on pip's command line or in the rendered SLS. ``pip``: resolved values."""
    lines = ["# Managed by Salt (litellm-formula): pillar litellm:pip", "[global]"]
    if pip.get("index_url"):
        lines.append(f"index-url = {pip['index_url']}")
    for key, name in (("extra_index_urls", "extra-index-url"), ("find_links", "find-links")):
        if pip.get(key):
            lines.append(f"{name} =")
            lines.extend(f"    {value}" for value in pip[key])
    if pip.get("no_index"):
        lines.append("no-index = true")
    return "\n".join(lines) + "\n"


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
            # and make the router refuse everything, and they load every model (docs/failover.md).
            "background_health_checks": False,
        },
        "litellm_settings": {"telemetry": False},
    }
    if settings["log_format"] == "json":
        config["litellm_settings"]["json_logs"] = True
    config = deep_merge(config, split_secrets(settings.get("extra_config"))[0])
    ours = ([WORKAROUNDS_CALLBACK] + ([LIVENESS_CALLBACK] if health["enabled"] else [])
            + (["prometheus"] if settings["metrics"]["enabled"] else [])
            + ([PROBES_CALLBACK] if settings["probes"]["enabled"] else []))
    # Kept when extra_config brings callbacks of its own (a list replaces a list in the merge).
    theirs = config["litellm_settings"].get("callbacks") or []
    theirs = [theirs] if isinstance(theirs, str) else theirs  # LiteLLM takes one name as a string too
    config["litellm_settings"]["callbacks"] = ours + [c for c in theirs if c not in ours]
    return config


# Offline start: no cost-map download (a 5 s wait per start without a route), no telemetry. The
# config check runs LiteLLM too, with the same two.
OFFLINE_ENVIRONMENT = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY_DISABLED": "true"}


def service_environment(settings):
    """Non-secret environment of the service (the key has a file of its own)."""
    env = {
        **OFFLINE_ENVIRONMENT,
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
    if settings["log_format"] == "json":
        # Read at import, before config.yaml: LiteLLM's first lines are JSON too.
        env["JSON_LOGS"] = "True"
    env.update({name: str(value) for name, value in sorted((settings.get("environment") or {}).items())})
    # extra_config's secrets, which config.yaml references by these names.
    env.update(sorted(split_secrets(settings.get("extra_config"))[1].items()))
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
    """The litellm CLI arguments choosing the HTTP server, its worker count and worker recycling."""
    flag = SERVERS[settings["server"]]
    args = ([flag] if flag else []) + ["--num_workers", str(worker_count(settings, cpus, mem_mb))]
    if settings.get("max_requests_before_restart"):
        args += ["--max_requests_before_restart", str(settings["max_requests_before_restart"])]
        if settings.get("max_requests_before_restart_jitter"):
            args += ["--max_requests_before_restart_jitter", str(settings["max_requests_before_restart_jitter"])]
    return args


# systemd credentials (LoadCredential=): the service reads private copies under %d, so the key file
# itself may stay root-only.
TLS_CREDENTIALS = {"tls_certificate": "tls-certificate.pem", "tls_key": "tls-key.pem"}


def service_args(settings):
    """litellm CLI arguments only the service runs with (not the trial start): the metrics listener
    and TLS from systemd credentials (``%d`` is the unit's credentials directory)."""
    args = []
    if settings["metrics"]["enabled"]:
        args += ["--prometheus_metrics_port", str(settings["metrics"]["port"])]
    if tls_enabled(settings):
        args += ["--ssl_certfile_path", f"%d/{TLS_CREDENTIALS['tls_certificate']}",
                 "--ssl_keyfile_path", f"%d/{TLS_CREDENTIALS['tls_key']}"]
    return args


def exec_host(settings):
    """--host of ExecStart=. Under socket activation the socket unit holds the public address and
    gunicorn ignores --host; LiteLLM still binds its metrics listener there, so: localhost."""
    return "127.0.0.1" if socket_activated(settings) else settings["bind_host"]


def probe_listen(settings):
    """LITELLM_FORMULA_PROBE_LISTEN (host:port) of the unit, or None with probes off."""
    if not settings["probes"]["enabled"]:
        return None
    host = settings["bind_host"]
    return f"[{host}]:{settings['probes']['port']}" if ":" in host else f"{host}:{settings['probes']['port']}"


def probe_url(settings):
    """Where a local client reaches the probes (plain HTTP), or None with probes off."""
    if not settings["probes"]["enabled"]:
        return None
    return proxy_base_url(settings["bind_host"], settings["probes"]["port"])


def metrics_dir(settings):
    """PROMETHEUS_MULTIPROC_DIR: in the unit's RuntimeDirectory=, which systemd empties at every stop."""
    return f"/run/{settings['service_name']}/metrics"


def socket_activated(settings):
    """systemd holds the port (a .socket unit) only in gunicorn mode: gunicorn serves from an inherited
    socket (LISTEN_FDS); uvicorn and granian, as LiteLLM starts them, bind the port themselves."""
    return settings.get("server") == "gunicorn"


def listen_stream(settings):
    """ListenStream= of the socket unit: the proxy's address, IPv6 in brackets."""
    host = settings["bind_host"]
    return f"[{host}]:{settings['bind_port']}" if ":" in host else f"{host}:{settings['bind_port']}"


def socket_ip_address_allow(settings):
    """IPAddressAllow= of the socket unit: who may connect (localhost and the listed networks), not
    the backends, so adding a backend by address never binds the socket again."""
    listed = list(settings["ip_address_allow"])
    if listed == ["any"]:
        return None
    return ["localhost"] + [entry for entry in listed if entry != "localhost"]


def socket_digest(settings):
    """What binding the socket depends on: when it changes, the socket must be bound again (which
    stops the service); anything else in the socket unit needs only a daemon-reload."""
    listen = [listen_stream(settings), ":" in settings["bind_host"], settings["max_connections"],
              socket_ip_address_allow(settings)]
    return hashlib.sha256(json.dumps(listen).encode()).hexdigest()[:16]


def limit_nofile(settings):
    """LimitNOFILE=: a client connection and its backend connection each, plus the interpreter's own files."""
    return 2 * settings["max_connections"] + 1024


def paths(settings):
    """Derived paths, one place."""
    config_dir = settings["config_dir"].rstrip("/")
    install_dir = settings["install_dir"].rstrip("/")
    tls = settings.get("tls") or {}
    return {
        # The link the unit runs; it points into venvs/ (one virtualenv per version and lock).
        "venv": f"{install_dir}/current",
        "previous_venv": f"{install_dir}/previous",
        "venvs_dir": f"{install_dir}/venvs",
        "locks_dir": f"{install_dir}/locks",
        # Where 0.3.0 and earlier installed in place: a rollback target until pruned.
        "legacy_venv": f"{install_dir}/venv",
        "check_config": f"{install_dir}/libexec/check-config.py",
        "pip_config": f"{install_dir}/pip.conf",
        "config_file": f"{config_dir}/config.yaml",
        "env_file": f"{config_dir}/litellm.env",
        "master_key_file": f"{config_dir}/master_key.env",
        "unit_file": f"/etc/systemd/system/{settings['service_name']}.service",
        "socket_unit_file": f"/etc/systemd/system/{settings['service_name']}.socket",
        # Given as files, used in place (never modified); given as PEM text, written here.
        "tls_certificate": tls.get("certificate_file") or f"{config_dir}/tls/certificate.pem",
        "tls_key": tls.get("key_file") or f"{config_dir}/tls/key.pem",
    }


def pip_requirements(settings):
    """What pip installs into the virtualenv: LiteLLM with its proxy extra, then the extra pins."""
    return [f"litellm[proxy]=={settings['version']}"] + list(settings["extra_pip_packages"])


def pip_pins(settings):
    """``[[distribution, version], ...]`` the virtualenv must hold (extras dropped)."""
    pins = []
    for pin in pip_requirements(settings):
        name, _, version = pin.partition("==")
        pins.append([name.split("[", 1)[0], version])
    return pins


def check_config_argv(settings, venv=None):
    """The config check as an argument list (the candidate config.yaml goes last): the LiteLLM of
    ``venv`` (the one the apply is about to run, by default the current one), offline."""
    where = paths(settings)
    env = [f"{name}={value}" for name, value in OFFLINE_ENVIRONMENT.items()]
    return ["env", "-i", *env, (venv or where["venv"]) + "/bin/python", where["check_config"]]


def check_config_command(settings, venv=None):
    """file.managed check_cmd (a shell string): ``check_config_argv`` quoted."""
    return shlex.join(check_config_argv(settings, venv))


def venv_name(settings, lock_digest):
    """A virtualenv per pinned set: the LiteLLM version and the lock's digest."""
    return f"{settings['version']}-{lock_digest[:12]}"


def state_directory(settings):
    """StateDirectory= takes a path relative to /var/lib (the schema keeps state_dir under it)."""
    return settings["state_dir"].rstrip("/")[len("/var/lib/"):]


def derived(settings, cpus, mem_mb):
    """Everything the states place that is computed from the settings, in one mapping."""
    return {
        "paths": paths(settings),
        "unit_ip_address_allow": ip_address_allow(settings),
        "server_args": " ".join(server_args(settings, cpus, mem_mb) + service_args(settings)),
        "exec_host": exec_host(settings),
        "tls_enabled": tls_enabled(settings),
        "tls_credentials": TLS_CREDENTIALS,
        "metrics_dir": metrics_dir(settings) if settings["metrics"]["enabled"] else None,
        "probe_listen": probe_listen(settings),
        "stop_timeout": stop_timeout(settings),
        "socket_activated": socket_activated(settings),
        "socket_ip_address_allow": socket_ip_address_allow(settings),
        "socket_digest": socket_digest(settings),
        "listen_stream": listen_stream(settings),
        "limit_nofile": limit_nofile(settings),
        "state_directory": state_directory(settings),
        "pip_requirements": pip_requirements(settings),
        "check_config_cmd": check_config_command(settings),
        "url": proxy_base_url(settings["bind_host"], settings["bind_port"], tls_enabled(settings)),
    }


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


def proxy_base_url(bind_host, bind_port, tls=False):
    """Where a local client reaches the proxy: wildcard binds are reached through loopback."""
    address = ipaddress.ip_address(bind_host)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{'https' if tls else 'http'}://{host}:{bind_port}"

