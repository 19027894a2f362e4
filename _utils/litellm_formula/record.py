"""
The deployment record: what the last apply deployed on this minion, written by the formula
(``service/record.sls``) and read by everything that operates the running proxy, so that health
checks, key rotation and the journal work with the master down, with pillar ahead of the
deployment, and with the formula served under any name. It holds no secret: the key's source and
file, never the key.
"""

import hashlib
import json
import os

from .keys import fingerprint, key_source
from .render import model_backends, paths, probe_url, proxy_base_url, socket_activated, socket_digest, worker_count
from .schema import PILLAR_KEY, RECORD_DIR, tls_enabled

# One file per service, in a directory only the formula writes (root only): schema.RECORD_DIR.
FORMAT = 1


def record_path(service_name, directory=RECORD_DIR):
    return os.path.join(directory, f"{service_name}.json")


def digest(data):
    """A short, stable digest of JSON-able data (keys sorted)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _without_key(pillar):
    # The keys themselves never enter a digest: their fingerprints stand for them, so a new key
    # still shows as a pillar change (the master key, and the TLS key given as text).
    data = dict(pillar or {})
    if isinstance(data.get("lookup"), dict):
        data["lookup"] = dict(data["lookup"])
    for holder in (data, data.get("lookup")):
        if not isinstance(holder, dict):
            continue
        if "master_key" in holder:
            holder["master_key"] = "fingerprint:" + fingerprint(str(holder["master_key"]))
        if isinstance(holder.get("tls"), dict) and holder["tls"].get("key"):
            key = str(holder["tls"]["key"])
            shown = key if key.startswith("sdb://") else "fingerprint:" + fingerprint(key)
            holder["tls"] = {**holder["tls"], "key": shown}
    return data


def pillar_digest(pillar):
    """Digest of the pillar ``litellm`` tree (the master key replaced by its fingerprint)."""
    return digest(_without_key(pillar))


def _public_settings(settings):
    # The digest covers every setting but the secrets (the master key; the TLS key only as "set").
    public = {k: v for k, v in settings.items() if k != "master_key"}
    if isinstance(public.get("tls"), dict):
        public["tls"] = {**public["tls"], "key": bool(public["tls"].get("key"))}
    return public


def build(settings, pillar, cpus, mem_mb, formula_root):
    """The record of a deployment of ``settings`` (merged and validated)."""
    where = paths(settings)
    tags = {model["name"]: model["model"] for model in settings["models"]}
    source = key_source(settings)
    return {
        "format": FORMAT,
        "service_name": settings["service_name"],
        "unit": f"{settings['service_name']}.service",
        "service_user": settings["service_user"],
        "service_group": settings["service_group"],
        "install_dir": settings["install_dir"],
        "config_dir": settings["config_dir"],
        "state_dir": settings["state_dir"],
        "paths": where,
        "bind_host": settings["bind_host"],
        "bind_port": settings["bind_port"],
        "url": proxy_base_url(settings["bind_host"], settings["bind_port"], tls_enabled(settings)),
        # Liveness and readiness on their own listener (None: the proxy's own endpoints).
        "probe_url": probe_url(settings) if isinstance(settings.get("probes"), dict) else None,
        # The certificate health checks trust (they reach the proxy on loopback, not by its name).
        "tls_certificate": where["tls_certificate"] if tls_enabled(settings) else None,
        "models": {name: {"tag": tags[name], "backends": urls} for name, urls in model_backends(settings).items()},
        "version": settings["version"],
        "server": settings["server"],
        # What the socket unit was bound with (None: no socket unit): a change means binding it again.
        "socket_digest": socket_digest(settings) if socket_activated(settings) else None,
        "num_workers": worker_count(settings, cpus, mem_mb),
        "startup_timeout": settings["startup_timeout"],
        "master_key": {
            "source": source,
            "file": where["master_key_file"],
            # An sdb URI names the store, not the key: rotation writes there without pillar.
            "sdb_uri": settings["master_key"] if source == "sdb" else None,
        },
        "formula_root": formula_root,
        "settings_digest": digest(_public_settings(settings)),
        "pillar_digest": pillar_digest(pillar),
    }


def text(record):
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def load(path):
    """Read a record; raises ValueError saying what is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"no deployment record at {path}: apply the formula (state.apply litellm) first") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"unreadable deployment record {path}: {exc}") from exc
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"deployment record {path} has an unknown format: apply the formula again")
    return record


def records(directory=RECORD_DIR):
    """Service names that have a record, sorted."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(name[: -len(".json")] for name in names if name.endswith(".json") and not name.startswith("."))


def choose(names, wanted=None):
    """The service to operate: ``wanted``, else the only one deployed; raises ValueError otherwise."""
    if wanted:
        return wanted
    if len(names) == 1:
        return names[0]
    if not names:
        raise ValueError("no deployment record on this minion: apply the formula (state.apply litellm) first")
    raise ValueError(f"several proxies are deployed here ({', '.join(names)}): pass name=<service>")


def pillar_drift(record, pillar):
    """Compare the pillar this minion holds now with the one the deployment was made from.

    Returns ``{"pillar": "matches" | "differs" | "unknown", "comment": ...}``.
    """
    if not isinstance(pillar, dict) or not pillar:
        return {"pillar": "unknown",
                "comment": f"no {PILLAR_KEY} pillar here (salt-call --local?): cannot tell whether an apply is due"}
    if pillar_digest(pillar) == record.get("pillar_digest"):
        return {"pillar": "matches", "comment": "pillar matches the deployment"}
    return {"pillar": "differs",
            "comment": "pillar differs from the deployment: an apply is due (this reports what runs)"}
