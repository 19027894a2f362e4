"""
The master key on disk: its file, fingerprints, ages, atomic root-only writes, and the check that a
restarted proxy accepts the new key and refuses the old one.
"""

import hashlib
import os
import re
import secrets
import tempfile
import time

from .health import bearer, http_request
from .schema import MASTER_KEY_ENV

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


def secret_file_is(path, text):
    """True when ``path`` holds exactly ``text``, is root's and mode 0600."""
    try:
        info = os.stat(path)
        with open(path, encoding="utf-8") as handle:
            same = handle.read() == text
    except FileNotFoundError:
        return False
    return same and info.st_uid == 0 and (info.st_mode & 0o777) == 0o600


def wait_for_key(base_url, new_key, old_key, deadline, interval=0.5, cafile=None):
    """After a restart: wait until the proxy answers, then check that ``new_key`` is accepted and
    ``old_key`` refused. Returns None when so, else what is wrong."""
    problem = "the proxy did not answer"
    while time.monotonic() < deadline:
        live = http_request(f"{base_url}/health/liveliness", 2, cafile=cafile)
        if live["status"] == 200:
            new = http_request(f"{base_url}/v1/models", 5, bearer(new_key), cafile=cafile)
            old = (http_request(f"{base_url}/v1/models", 5, bearer(old_key), cafile=cafile) if old_key
                   else {"status": 401})
            if new["status"] == 200 and old["status"] in (400, 401, 403):
                return None
            problem = (f"new key answered HTTP {new['status'] or new['error']}, "
                       f"old key answered HTTP {old['status'] or old.get('error')}")
            if new["status"] in (400, 401, 403):
                return problem  # up, but refusing the key: waiting will not help
        time.sleep(interval)
    return problem



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


def env_file_values(path):
    """``{name: value}`` of an environment file the formula wrote (``NAME="escaped"`` lines); empty when
    missing or unreadable. Used to say which names an apply changes, never to show a value."""
    values = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                name, sep, value = line.rstrip("\n").partition("=")
                if not sep or name.startswith("#"):
                    continue
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                values[name] = value
    except (OSError, UnicodeDecodeError):
        return {}
    return values
