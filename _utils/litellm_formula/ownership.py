"""
What the formula owns on a host. Before any change, every account, unit and directory a deployment
would create is checked: it must not exist yet, or be in this service's ledger (the formula created
it), or be adopted by name in pillar (``litellm:adopt``). The ledger records each claim before the
state that creates it runs; ``litellm.clean`` removes what the ledger lists and nothing else.

Plain Python: the host is read through a small ``Host`` object, so the rules are unit-tested with a
fake host and run for real in the systemd container.
"""

import grp
import json
import os
import pwd
import shutil
import subprocess

from . import schema
from .render import paths, socket_activated
from .schema import PILLAR_KEY

FORMAT = 1
# Beside the deployment records (``<service>.json``), under a name records() does not list.
LEDGER_SUFFIX = ".owned"
# Accounts below this id are the distribution's own (root, daemon, www-data, ...), from it people's;
# with nobody's, never adopted whatever pillar says (system accounts of packages are 100-999).
MIN_ADOPTABLE_ID = 100
MAX_ADOPTABLE_ID = 999
NOBODY_ID = 65534
# Where systemd finds unit files, the administrator's first. A unit elsewhere comes from a package.
ADMIN_UNIT_DIR = "/etc/systemd/system"
UNIT_DIRS = (ADMIN_UNIT_DIR, "/run/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system",
             "/usr/lib/systemd/system")
KIND_WORDS = {"user": "the account", "group": "the group", "unit": "the unit file", "dir": "the directory"}


class Host:
    """The few facts the rules read from the real host (read only)."""

    def lexists(self, path):
        return os.path.lexists(path)

    def islink(self, path):
        return os.path.islink(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def ismount(self, path):
        return os.path.ismount(path)

    def user_id(self, name):
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            return None

    def group_id(self, name):
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return None

    def unit_file(self, unit):
        for directory in UNIT_DIRS:
            path = os.path.join(directory, unit)
            if os.path.lexists(path):
                return path
        return None

    def package_owner(self, path):
        """The package(s) that ship ``path``, or None (dpkg or rpm; argument lists, no shell)."""
        for tool, args in (("dpkg-query", ["-S", path]), ("rpm", ["-qf", path])):
            if shutil.which(tool):
                done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=30, check=False)
                if done.returncode != 0:
                    return None
                out = done.stdout.strip()
                return (out.split(":", 1)[0] if tool == "dpkg-query" else out.splitlines()[0]) or None
        return None


def ledger_path(service, directory):
    return os.path.join(directory, service + LEDGER_SUFFIX)


def resources(settings):
    """``[(pillar key, kind, name)]``: everything a deployment creates or re-owns outside its own dirs."""
    return [
        ("service_user", "user", settings["service_user"]),
        ("service_group", "group", settings["service_group"]),
        ("service_name", "unit", paths(settings)["unit_file"]),
    ] + ([("service_name", "unit", paths(settings)["socket_unit_file"])] if socket_activated(settings) else []) + [
        ("install_dir", "dir", settings["install_dir"].rstrip("/")),
        ("config_dir", "dir", settings["config_dir"].rstrip("/")),
        ("state_dir", "dir", settings["state_dir"].rstrip("/")),
    ]


def _entry_id(kind, name):
    return f"{kind}:{name}"


def _from_record(record):
    # A deployment made before ledgers existed (0.2.0): its record names what that apply created,
    # but 0.2.0 accepted paths and names no longer allowed (/usr, nobody, ...): only what today's
    # rules allow counts as the formula's.
    settings = {key: record.get(key) for key in ("service_name", "service_user", "service_group",
                                                 "install_dir", "config_dir", "state_dir")}
    if not all(isinstance(value, str) and value for value in settings.values()):
        return {}
    errors = []
    schema._validate_dirs(settings, errors)
    bad = {error.split(":", 2)[1] for error in errors}
    bad |= {key for key, check in (("service_user", schema._account), ("service_group", schema._account),
                                   ("service_name", schema._unit_name)) if check(settings[key])}
    return {_entry_id(kind, name): {"kind": kind, "name": name, "key": key, "how": "created"}
            for key, kind, name in resources(settings) if key not in bad}


def load_ledgers(directory, load_record=None):
    """``{service: {entry id: entry}}`` for every ledger in ``directory``, plus, for a service that
    has a deployment record but no ledger, the entries its record implies."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return {}
    ledgers = {}
    for filename in names:
        if filename.endswith(LEDGER_SUFFIX) and not filename.startswith("."):
            service = filename[: -len(LEDGER_SUFFIX)]
            try:
                with open(os.path.join(directory, filename), encoding="utf-8") as handle:
                    data = json.load(handle)
                entries = data["owned"] if data.get("format") == FORMAT else None
            except (OSError, ValueError, KeyError, AttributeError, TypeError):
                entries = None
            if not isinstance(entries, list):
                raise ValueError(f"unreadable ledger {os.path.join(directory, filename)}: the formula cannot tell "
                                 "what it owns; restore the file or remove it and adopt what it listed")
            ledgers[service] = {_entry_id(e["kind"], e["name"]): e for e in entries
                                if isinstance(e, dict) and "kind" in e and "name" in e}
    if load_record:
        for filename in names:
            service = filename[: -len(".json")]
            if filename.endswith(".json") and service not in ledgers:
                try:
                    ledgers[service] = _from_record(load_record(os.path.join(directory, filename)))
                except ValueError:
                    continue
    return ledgers


def _hard_refusal(kind, name, host):
    """Why ``name`` can never be taken over, adopted or not; None when it may be."""
    if kind == "dir":
        if host.islink(name):
            return "is a symbolic link"
        if not host.isdir(name):
            return "exists and is not a directory"
        if host.ismount(name):
            return "is a mount point"
        owner = host.package_owner(name)
        if owner:
            return f"belongs to the package {owner}"
    elif kind == "unit":
        if os.path.dirname(name) != ADMIN_UNIT_DIR:
            return "is shipped by a package"
        if host.islink(name):
            return "is a symbolic link (an alias or a masked unit)"
        found = host.unit_file(os.path.basename(name))
        if found and found != name:
            return f"is shipped by a package ({found})"
        if host.lexists(name):
            owner = host.package_owner(name)
            if owner:
                return f"belongs to the package {owner}"
    else:
        ident = host.user_id(name) if kind == "user" else host.group_id(name)
        word = "account" if kind == "user" else "group"
        if ident is not None and (ident < MIN_ADOPTABLE_ID or ident == NOBODY_ID):
            return f"is a system {word} of the distribution (id {ident})"
        if ident is not None and ident > MAX_ADOPTABLE_ID:
            return f"is not a system {word} (id {ident}: a person's, or another site's)"
    return None


def _exists(kind, name, host):
    if kind == "user":
        return host.user_id(name) is not None
    if kind == "group":
        return host.group_id(name) is not None
    if kind == "unit":
        return host.unit_file(os.path.basename(name)) is not None
    return host.lexists(name)


def problems(settings, ledgers, host):
    """Every reason this deployment would take over something the formula does not own (empty when
    it may proceed). Each names the pillar key and what to do."""
    service = settings["service_name"]
    own = ledgers.get(service, {})
    adopt = set(settings.get("adopt") or [])
    found = []
    for key, kind, name in resources(settings):
        where = f"{PILLAR_KEY}:{key}"
        what = f"{KIND_WORDS[kind]} {name}"
        entry = _entry_id(kind, name)
        if entry in own:
            continue
        others = sorted(other for other, entries in ledgers.items() if other != service and entry in entries)
        if others:
            found.append(f"{where}: {what} belongs to the formula's deployment of {others[0]}; give this "
                         f"service its own {key}")
            continue
        if not _exists(kind, name, host):
            continue
        hard = _hard_refusal(kind, name, host)
        if hard:
            found.append(f"{where}: {what} {hard}; the formula never takes it over (choose another {key})")
        elif key in adopt and kind in ("user", "group") and name != service and not name.startswith(service + "-"):
            found.append(f"{where}: {what} exists and is not named after the service ({service} or {service}-...); "
                         "only such an account or group can be adopted")
        elif key not in adopt:
            found.append(f"{where}: {what} exists and was not created by this formula; remove it, or add "
                         f"{key} to {PILLAR_KEY}:adopt to let the formula take it over (it then owns it, "
                         "and litellm.clean removes it)")
    return found


def claim(settings, ledgers, host):
    """The ledger after this deployment's claims: what it had (entries of an earlier pillar kept
    while they exist, so clean still removes them), plus each resource, ``created`` when it does not
    exist yet, ``adopted`` when pillar adopted it. Call only when ``problems`` found none."""
    service = settings["service_name"]
    own = ledgers.get(service, {})
    current = {_entry_id(kind, name) for _, kind, name in resources(settings)}
    claimed = {entry_id: entry for entry_id, entry in own.items()
               if entry_id in current or _exists(entry["kind"], entry["name"], host)}
    for key, kind, name in resources(settings):
        entry_id = _entry_id(kind, name)
        if entry_id not in claimed:
            how = "adopted" if _exists(kind, name, host) else "created"
            claimed[entry_id] = {"kind": kind, "name": name, "key": key, "how": how}
    return {"format": FORMAT, "service": service, "owned": sorted(claimed.values(), key=_order)}


def _order(entry):
    return (["unit", "dir", "user", "group"].index(entry["kind"]), entry["name"])


def prune(service, entries, host, gone=()):
    """The ledger after a run or a clean: only what still exists (``gone``: ids a clean is about to
    remove, for its test-mode prediction); None when nothing is left."""
    left = [entry for entry_id, entry in entries.items()
            if entry_id not in gone and _exists(entry["kind"], entry["name"], host)]
    return {"format": FORMAT, "service": service, "owned": sorted(left, key=_order)} if left else None


def clean_plan(settings, ledgers, host, remove_accounts):
    """What ``litellm.clean`` removes (the ledger's entries only, each checked again: a directory
    since made a mount point or a link is left) and what it leaves, with why."""
    service = settings["service_name"]
    own = ledgers.get(service, {})
    plan = {"units": [], "dirs": {key: [] for key in ("install_dir", "config_dir", "state_dir")},
            "users": [], "groups": [], "left": [], "entries": sorted(own.values(), key=_order)}
    for entry in plan["entries"]:
        kind, name = entry["kind"], entry["name"]
        key = entry.get("key") or kind
        if not _exists(kind, name, host):
            continue
        hard = _hard_refusal(kind, name, host)
        if hard:
            plan["left"].append(f"{PILLAR_KEY}:{key}: {KIND_WORDS[kind]} {name} left in place: it {hard}")
        elif kind == "unit":
            plan["units"].append(name)
        elif kind == "dir":
            plan["dirs"][key if key in plan["dirs"] else "install_dir"].append(name)
        elif remove_accounts:
            plan[kind + "s"].append(name)
    for key, kind, name in resources(settings):
        if _entry_id(kind, name) not in own and _exists(kind, name, host):
            plan["left"].append(f"{PILLAR_KEY}:{key}: {KIND_WORDS[kind]} {name} left in place: the formula did not "
                                f"create it (it is not in the ledger {service}{LEDGER_SUFFIX})")
    return plan


def planned_removals(plan):
    """Entry ids a clean following ``plan`` removes."""
    ids = {_entry_id("unit", name) for name in plan["units"]}
    ids |= {_entry_id("dir", name) for names in plan["dirs"].values() for name in names}
    ids |= {_entry_id("user", name) for name in plan["users"]} | {_entry_id("group", name) for name in plan["groups"]}
    return ids


def text(ledger):
    return json.dumps(ledger, indent=2, sort_keys=True) + "\n"
