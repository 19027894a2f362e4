"""
Operate a LiteLLM proxy deployed by litellm-formula.

Two kinds of function:

- **The running proxy** (``deployment``, ``health``, ``proxy_status``, ``version``,
  ``journal_tail``, ``master_key_*``, ``rotate_master_key``) read the deployment record the last
  apply wrote (``/var/lib/litellm-formula/<service>.json``) and local files only: they work with the
  master down (``salt-call --local``), and when pillar has moved ahead of the deployment they report
  what runs and say that an apply is due. ``name`` picks the service when a minion runs several.
- **The desired state** (``settings``, ``validate_pillar``, ``render_config``,
  ``render_environment``, ``install_plan``, ``models``) read pillar and the formula's
  ``parameters/`` files.
- **What the formula owns** (``owned``, ``record_ownership``): the ledger of the accounts, unit and
  directories it created or was told to adopt, beside the records; clean removes only those.

The logic lives in the ``litellm_formula`` package (``_utils/litellm_formula``, synced with
``saltutil.sync_all``), one concern per file; this module only wires Salt to it. The master key is
never returned.
"""

import importlib.util
import logging
import os
import shutil
import socket
import sys
import threading
import time
from datetime import datetime, timezone

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "litellm"

PACKAGE = "litellm_formula"
_IMPORT_LOCK = threading.Lock()


def _import_package():
    """Import ``litellm_formula`` from where ``saltutil.sync_all`` puts it: ``<extmods>/utils``
    next to ``<extmods>/modules`` on a minion, ``_utils`` next to ``_modules`` in the repository.
    Imported again when its files changed (a sync that brings new code is used at once); under a
    lock, because a threaded minion builds loaders concurrently."""
    base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for utils in ("utils", "_utils"):
        path = os.path.join(base, utils, PACKAGE)
        if os.path.isfile(os.path.join(path, "__init__.py")):
            break
    else:
        return None, f"its library {PACKAGE} is not in {base}/utils: run saltutil.sync_all (or sync_utils)"
    names = ("schema", "render", "venv", "health", "keys", "record", "ownership", "lock", "install", "tls")
    with _IMPORT_LOCK:
        signature = sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                           for entry in os.scandir(path) if entry.name.endswith(".py"))
        loaded = sys.modules.get(PACKAGE)
        if loaded is not None and getattr(loaded, "_signature", None) == (path, signature):
            return {name: sys.modules[f"{PACKAGE}.{name}"] for name in names}, None
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        spec = importlib.util.spec_from_file_location(PACKAGE, os.path.join(path, "__init__.py"),
                                                      submodule_search_locations=[path])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        try:
            spec.loader.exec_module(package)
            modules = {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names}
        except Exception as exc:  # noqa: BLE001 - any import failure makes the module unusable; say why
            del sys.modules[PACKAGE]
            return None, f"its library {path} does not import: {type(exc).__name__}: {exc}"
        package._signature = (path, signature)
    return modules, None


_LIB, _LIB_PROBLEM = _import_package()
if _LIB:
    schema, render, venv, health_checks, keys, record, ownership, lock, install, tls = (
        _LIB[name] for name in ("schema", "render", "venv", "health", "keys", "record", "ownership", "lock", "install", "tls"))


def __virtual__():
    if _LIB_PROBLEM:
        return False, f"litellm: {_LIB_PROBLEM}"
    return __virtualname__


# --------------------------------------------------------------------------------------------------
# The desired state: pillar and the formula's parameters
# --------------------------------------------------------------------------------------------------


def _load_parameters(root, relpath):
    text = __salt__["cp.get_file_str"](f"salt://{root}/parameters/{relpath}")
    return ((salt.utils.yaml.safe_load(text) or {}).get("values") or {}) if text else {}


def _pillar():
    # The minion's compiled pillar, read directly: plain values on every Salt release (3008 masks
    # only what pillar.get returns), and no master round trip.
    data = __pillar__.get(schema.PILLAR_KEY, {})
    if not isinstance(data, dict):
        raise CommandExecutionError(f"{schema.PILLAR_KEY}: got {schema._show(data)}, expected a mapping")
    return _plain(data)


def _plain(value):
    # A detached copy in plain dicts and lists (Salt 3008 wraps pillar in its own subclasses).
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _parameters(parameters):
    """What map.jinja passes, or, from the CLI, the parameters at the formula's root on the file
    server: the one the last apply recorded, else ``litellm``."""
    if parameters:
        return parameters
    root = "litellm"
    for service in record.records(_record_dir()):
        try:
            root = record.load(record.record_path(service, _record_dir())).get("formula_root") or root
        except ValueError:
            continue
        break
    defaults = _load_parameters(root, "defaults.yaml")
    if not defaults:
        raise CommandExecutionError(
            f"litellm: salt://{root}/parameters/defaults.yaml not found on the file server (after the first "
            "apply, the deployment record remembers where the formula is served from)")
    return {"root": root, "defaults": defaults,
            "os_family": _load_parameters(root, f"os_family/{__grains__.get('os_family', '')}.yaml")}


def _merged(parameters=None):
    given = _parameters(parameters)
    pillar = _pillar()
    # The pillar read once goes with the parameters: the record's digest is of the same copy.
    return schema.merge_settings(given.get("defaults"), given.get("os_family"), pillar), {**given, "pillar": pillar}


def _raise_if_invalid(errors):
    if errors:
        raise CommandExecutionError("Invalid pillar:\n  " + "\n  ".join(errors))


def _prefix():
    # A minion option for the functional tests only: a directory standing in for / in the path rules.
    return __opts__.get("litellm_path_prefix") or ""


def _valid(parameters=None):
    merged, given = _merged(parameters)
    _raise_if_invalid(schema.validate_settings(merged, _prefix()))
    if parameters:
        # What the states of this run see (write_master_key checks its path against it).
        _once_per_run("desired", lambda: merged)
    return merged, given


def settings(validate=True, parameters=None):
    """
    Return the desired settings of this minion (the formula's defaults and per-``os_family`` values,
    pillar ``litellm:lookup``, pillar ``litellm``, merged in that order) with everything computed from
    them (paths, unit values, the texts of config.yaml, the environment file and the deployment
    record), the master key left out. Raises a clear error naming every bad pillar key when
    ``validate`` is true: the formula's ``map.jinja`` calls this, passing the ``parameters`` files it
    loaded, so a bad pillar fails the apply before any change. From the command line leave
    ``parameters`` out.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.settings
    """
    merged, given = _valid(parameters) if validate else _merged(parameters)
    # No secret leaves: environment values hidden, extra_config's secrets as references, pip
    # credentials masked (the files that hold them are written by states, root only).
    public = render.redacted(merged)
    if validate:
        public.update(render.derived(merged, __grains__.get("num_cpus"), __grains__.get("mem_total")))
        deployed = record.build(merged, given["pillar"], __grains__.get("num_cpus"), __grains__.get("mem_total"),
                                given.get("root"))
        # The render's snapshot, taken once per run before any change: the rollback's target is the
        # virtualenv that ran before this apply.
        try:
            public["install"] = _once_per_run("install", lambda: install_plan(parameters))
            public["check_config_cmd"] = render.check_config_command(merged, public["install"]["venv"])
        except CommandExecutionError as exc:
            # The package and service states refuse to render with this; clean still can.
            public["install"], public["install_problem"] = None, str(exc)
        public["socket_rebind"] = _once_per_run("socket_rebind", lambda: _socket_rebind(merged))
        public["tls_certificate_digest"] = _tls(merged)["digest"]
        public["record_dir"] = _record_dir()
        public["record_file"] = record.record_path(merged["service_name"], _record_dir())
        public["files"] = {
            "config": salt.utils.yaml.safe_dump(render.proxy_config(merged), default_flow_style=False,
                                                sort_keys=False),
            "record": record.text(deployed),
        }
    return public


def _once_per_run(name, compute):
    """``compute()`` once per state run, shared by the render and the states of that run (they share
    one ``__context__``, which holds the run's file client); outside a state run, every time. A run
    starts from a copy of its caller's context, so an entry is used only by the run that made it."""
    client = __context__.get("fileclient")
    if client is None:
        return compute()
    slot = f"litellm.{name}"
    cached = __context__.get(slot)
    if cached is not None and cached[0] == id(client):
        return cached[1]
    value = compute()
    __context__[slot] = (id(client), value)
    return value


def _resolved(ref):
    """``ref`` itself, or for an ``sdb://`` URI its value, resolved once per state run: the value
    validated at render time is the value the state writes."""
    if not isinstance(ref, str) or not ref.startswith("sdb://"):
        return ref
    return _once_per_run(f"sdb:{ref}", lambda: __salt__["sdb.get"](ref))


def _resolved_master_key(merged):
    return _resolved(merged.get("master_key"))


def _secret_problems(merged):
    """Every secret-bearing value given as an ``sdb://`` URI must resolve, to a single line."""
    problems = []
    for where, value in render.secret_references(merged):
        if not value.startswith("sdb://"):
            continue
        resolved = _resolved(value)
        if not isinstance(resolved, (str, int, float)) or str(resolved).startswith("sdb://") or resolved == "":
            problems.append(f"{schema.PILLAR_KEY}:{where}: {value} did not resolve (is its sdb profile configured "
                            "on this minion?)")
        elif "\n" in str(resolved) or "\r" in str(resolved):
            problems.append(f"{schema.PILLAR_KEY}:{where}: {value} resolves to more than one line")
    return problems


def _master_key_problem(merged):
    key = merged.get("master_key")
    problem = schema.master_key_problem(key)
    if not problem and key.startswith("sdb://"):
        resolved = _resolved_master_key(merged)
        if isinstance(resolved, str) and resolved.startswith("sdb://"):
            # sdb.get hands the URI back when no profile by that name is configured on the minion.
            return (f"{schema.PILLAR_KEY}:master_key: {key} did not resolve (is its sdb profile configured on "
                    "this minion?)")
        problem = schema.master_key_problem(resolved)
        problem = problem and problem.replace("master_key:", f"master_key (resolved from {key}):", 1)
    return problem


def validate_pillar(require_master_key=True, parameters=None):
    """
    Check the ``litellm`` pillar without touching the host. Returns ``True`` or raises an error that
    names each bad key, its value (never a secret) and what is allowed. An ``sdb://`` key is resolved
    here once per job; the key file's state writes that same value.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.validate_pillar
        salt '*' litellm.validate_pillar
    """
    merged, _ = _merged(parameters)
    errors = schema.validate_settings(merged, _prefix())
    if require_master_key and merged.get("master_key_source", "pillar") == "pillar":
        problem = _master_key_problem(merged)
        if problem:
            errors.append(problem)
    if not errors:
        errors.extend(_secret_problems(merged))
    if not errors:
        # Only a valid pillar names paths and accounts worth looking up on the host.
        errors.extend(_ownership_problems(merged))
    if not errors:
        errors.extend(_lock(merged, _parameters(parameters)["root"])["problems"])
    if not errors:
        errors.extend(_tls(merged)["problems"])
    _raise_if_invalid(errors)
    return True


def _tls(merged):
    """``{digest, problems}`` of the TLS material pillar names (once per run): the certificate's
    digest goes into the unit; a missing file, a key that does not match or an unresolved sdb://
    is a problem naming the pillar key. The key's text never leaves this function."""
    def compute():
        if not schema.tls_enabled(merged):
            return {"digest": None, "problems": []}
        given = merged["tls"]
        if given["certificate_file"] and given["key_file"]:
            problem = tls.file_pair_problem(given["certificate_file"], given["key_file"], "tls:certificate_file",
                                            "tls:key_file")
            if problem:
                return {"digest": None, "problems": [problem]}
            with open(given["certificate_file"], "rb") as cert:
                return {"digest": tls.certificate_digest(cert.read()), "problems": []}
        texts, problems = _tls_texts(merged)
        problem = problems[0] if problems else tls.pair_problem(texts["certificate"], texts["key"],
                                                               "tls:certificate", "tls:key")
        if problem:
            return {"digest": None, "problems": [problem]}
        return {"digest": tls.certificate_digest(texts["certificate"]), "problems": []}

    return _once_per_run("tls", compute)


def _tls_texts(merged):
    """The PEM texts pillar gives (``tls:certificate``, ``tls:key``; sdb:// resolved once per run)."""
    texts, problems = {}, []
    for what, marker in (("certificate", "CERTIFICATE-----"), ("key", "PRIVATE KEY-----")):
        ref = merged["tls"][what]
        if not ref:
            continue
        value = _resolved(ref)
        if not isinstance(value, str) or marker not in value:
            problems.append(f"{schema.PILLAR_KEY}:tls:{what}: "
                            + (f"{ref} did not resolve to PEM text (is its sdb profile configured on this minion?)"
                               if str(ref).startswith("sdb://") else "not PEM text"))
            continue
        texts[what] = value if value.endswith("\n") else value + "\n"
    return texts, problems


def _ownership_problems(merged):
    """What this pillar would take over, read from the host once per state run: the render's check,
    the ledger's claim and the secret files' writes see the same answer."""
    return _once_per_run("ownership", lambda: ownership.problems(merged, _ledgers(), ownership.Host()))


def _ledgers():
    try:
        return ownership.load_ledgers(_record_dir(), record.load)
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from None


def owned(name=None, parameters=None):
    """
    Return what the formula owns for a service (its ledger: the account, group, unit file and
    directories it created or pillar told it to adopt, with how each came to be owned), and, for the
    pillar this minion holds now, what an apply would refuse to take over (``problems``) and what
    ``litellm.clean`` would remove and leave (``clean``: only what the ledger lists).

    CLI Example:

    .. code-block:: bash

        salt-call litellm.owned
        salt '*' litellm.owned name=litellm
    """
    def compute():
        ledgers = _ledgers()
        merged, _ = _merged(parameters)
        valid = not schema.validate_settings(merged, _prefix())
        service = name or (merged.get("service_name") if valid else None) or record.choose(sorted(ledgers), None)
        result = {"service": service, "ledger": ownership.ledger_path(service, _record_dir()),
                  "owned": sorted(ledgers.get(service, {}).values(), key=ownership._order)}
        if valid and service == merged["service_name"]:
            host = ownership.Host()
            result["problems"] = ownership.problems(merged, ledgers, host)
            result["clean"] = ownership.clean_plan(merged, ledgers, host, merged["clean_remove_user"])
        return result

    # The clean SLS files ask once per run.
    return _once_per_run(f"owned:{name}", compute) if parameters else compute()


def record_ownership(mode="claim", entries=None, test=False, parameters=None):
    """
    Keep this deployment's ledger. ``mode``:

    - ``claim`` (before anything is created): record what the apply will create, what pillar adopts,
      and what the ledger held already (an earlier pillar's directories stay listed while they
      exist); refused when the pillar would take over something the formula does not own.
    - ``confirm`` (last in an apply): drop what does not exist (an apply that failed before creating
      it), so nothing made later by another tool counts as the formula's.
    - ``clean`` (last in ``litellm.clean``): keep only what still exists (an account clean kept);
      ``entries`` are the ledger as the clean's render saw it. An empty ledger is removed, and the
      records directory with it when empty.

    Used by the ``litellm.ownership_recorded`` state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.record_ownership test=True
    """
    desired = _once_per_run("desired", lambda: _valid(parameters)[0])
    service = desired["service_name"]
    ledgers, host = _ledgers(), ownership.Host()
    path = ownership.ledger_path(service, _record_dir())
    on_disk = ledgers.get(service, {}) if os.path.exists(path) else {}
    own = dict(ledgers.get(service, {}))
    test = test or __opts__.get("test")
    if mode == "claim":
        problems = _ownership_problems(desired)
        if problems:
            raise CommandExecutionError("Refused:\n  " + "\n  ".join(problems))
        new = ownership.claim(desired, ledgers, host)
    elif mode == "confirm":
        # Under test=True nothing was created: the real run's claims stand (nothing to predict).
        new = {"owned": sorted(own.values(), key=ownership._order)} if test else ownership.prune(service, own, host)
    elif mode == "clean":
        own.update({f"{e['kind']}:{e['name']}": e for e in entries or []})
        plan = ownership.clean_plan(desired, {service: own}, host, desired["clean_remove_user"])
        new = ownership.prune(service, own, host, ownership.planned_removals(plan) if test else ())
    else:
        raise CommandExecutionError(f"mode: got {mode!r}, expected claim, confirm or clean")
    old_entries = sorted(on_disk.values(), key=ownership._order)
    new_entries = new["owned"] if new else []
    changed = old_entries != new_entries or (new is None and os.path.exists(path))
    result = {"ledger": path, "changed": changed, "owned": new_entries,
              "added": [e for e in new_entries if e not in old_entries],
              "dropped": [e for e in old_entries if e not in new_entries]}
    if test:
        return result
    directory = _record_dir()
    if changed and new is None:
        os.unlink(path)
    elif changed:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        keys.write_secret_file(path, ownership.text({**new, "service": service, "format": ownership.FORMAT}))
    if mode == "clean" and os.path.isdir(directory) and not os.listdir(directory):
        os.rmdir(directory)  # the formula's own directory, left empty by the clean
    return result


def render_config(parameters=None):
    """
    Return config.yaml as the formula renders it from pillar (no secret in it).

    CLI Example:

    .. code-block:: bash

        salt-call litellm.render_config
    """
    return settings(parameters=parameters)["files"]["config"]


def render_environment(parameters=None):
    """
    Return the service's environment file as pillar makes it, with every value from pillar
    (``environment``, and the secrets moved out of ``extra_config``) hidden: the file itself is
    written root-only by the ``litellm.secret_file_managed`` state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.render_environment
    """
    merged, _ = _valid(parameters)
    env = render.service_environment(merged)
    own = set(render.service_environment({**merged, "environment": {}, "extra_config": {}}))
    return render.env_file_text({name: value if name in own else "(hidden)" for name, value in env.items()})


def models(parameters=None):
    """
    Return the model -> backends map pillar configures (``litellm.deployment`` shows what runs).

    CLI Example:

    .. code-block:: bash

        salt-call litellm.models
    """
    merged, _ = _valid(parameters)
    return render.model_backends(merged)


def _systemctl(*args):
    return __salt__["cmd.run_all"](["systemctl", *args], python_shell=False, ignore_retcode=True,
                                   output_loglevel="quiet")


def _unit_active(unit):
    return _systemctl("is-active", "--quiet", unit)["retcode"] == 0


def _socket_rebind(merged):
    """Whether this apply must bind the socket again (stopping the service first): the socket runs
    with other listening settings than pillar's (the record's digest), or the service runs without
    a socket unit and holds the port itself (0.3.0, or server was not gunicorn)."""
    if not render.socket_activated(merged):
        return False
    service = merged["service_name"]
    if _unit_active(f"{service}.socket"):
        try:
            deployed = record.load(record.record_path(service, _record_dir()))
        except ValueError:
            return True
        return deployed.get("socket_digest") != render.socket_digest(merged)
    return _unit_active(f"{service}.service")


def _lock_source(merged, root):
    return merged.get("lock_file") or f"salt://{root}/files/default/locks/litellm-{merged['version']}.txt"


LOCK_MAX_BYTES = 1 << 20


def _read_lock(source):
    if source.startswith("salt://"):
        return __salt__["cp.get_file_str"](source) or None
    # A regular file of a lock's size only: not a FIFO or device that would hang the render.
    try:
        if not os.path.isfile(source) or os.path.getsize(source) > LOCK_MAX_BYTES:
            return None
        with open(source, encoding="utf-8") as handle:
            return handle.read(LOCK_MAX_BYTES)
    except (OSError, UnicodeDecodeError):
        return None


def _lock(merged, root):
    """The hash lock this pillar installs from, read once per run: its source, digest and the
    problems that refuse it (each naming the pillar key)."""
    source = _lock_source(merged, root)

    def compute():
        text = _read_lock(source)
        where = f"{schema.PILLAR_KEY}:lock_file"
        if text is None:
            if merged.get("lock_file"):
                return {"source": source, "problems": [f"{where}: {source} not found (or not a regular text file "
                                                       "under 1 MB)"]}
            return {"source": source, "problems": [
                f"{schema.PILLAR_KEY}:version: the formula ships no hash lock for {merged['version']} ({source}): "
                f"generate one (`make lock VERSION={merged['version']}`, README \"Hash-locked installs\") and set "
                f"{where} to it"]}
        try:
            parsed = lock.parse(text)
        except ValueError as exc:
            return {"source": source, "problems": [f"{where}: {source}: {exc}"]}
        missing = lock.missing_pins(parsed, render.pip_pins(merged))
        problems = [f"{where}: {source} does not pin {name}=={version} ({schema.PILLAR_KEY}:"
                    f"{'version' if name == 'litellm' else 'extra_pip_packages'})" for name, version in missing]
        return {"source": source, "digest": lock.digest(text), "problems": problems}

    return _once_per_run(f"lock:{source}", compute)


def _link_target(path):
    """Where the link ``path`` points (absolute), or None."""
    if not os.path.islink(path):
        return None
    return os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))


def install_plan(parameters=None):
    """
    Say what the package and switch states have to do. Every pinned set has its own virtualenv,
    ``<install_dir>/venvs/<version>-<lock digest>``; the unit runs the link ``<install_dir>/current``.
    Returns ``venv`` (the virtualenv this pillar runs), ``lock`` (the hash lock's source, where the
    apply copies it, its digest), ``build`` (true when that virtualenv is not complete yet),
    ``current`` and ``previous`` (where the links point now), ``switch`` (true when ``current`` must
    move) and ``site_packages``. Before a virtualenv is made, an interpreter older than LiteLLM
    needs is refused, naming ``litellm:python``.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.install_plan
    """
    merged, given = _valid(parameters)
    where = render.paths(merged)
    found = _lock(merged, given.get("root"))
    _raise_if_invalid(found["problems"])
    name = render.venv_name(merged, found["digest"])
    path = f"{where['venvs_dir']}/{name}"
    current = _running_venv(where)
    build = venv.built_from(path) != found["digest"]
    site = venv.site_packages(path)
    if build and not site:
        version = _python_version(merged["python"])
        if version is not None:
            _raise_if_invalid([problem for problem in [schema.python_problem(merged["python"], version)] if problem])
        site = venv.site_packages(path, version)
    return {"venv": path, "name": name, "build": build, "site_packages": site,
            "lock": {"source": found["source"], "digest": found["digest"], "path": f"{where['locks_dir']}/{name}.txt"},
            "current": current, "previous": _link_target(where["previous_venv"]), "switch": current != path}


def _python_version(python):
    # Asked only before the virtualenv exists: one interpreter start on a first apply, none after.
    if not os.access(python, os.X_OK):
        return None
    out = __salt__["cmd.run_all"]([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                  python_shell=False, ignore_retcode=True)
    return out["stdout"].strip() if out["retcode"] == 0 else "unknown"


def write_master_key(path=None, test=False):
    """
    Write the master key pillar gives (``litellm:master_key``, from ``lookup`` or the top level; an
    ``sdb://`` URI resolved once per state run) to the formula's key file, atomically, root only,
    mode 0600, unless it already holds that key that way. ``path`` must be that file (the one pillar
    places under ``config_dir``): nothing else is ever written. Returns the file, the old and new
    fingerprints and whether it changed; never the key. Used by the ``litellm.master_key_managed``
    state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.write_master_key
        salt-call litellm.write_master_key test=True
    """
    desired = _once_per_run("desired", lambda: _valid()[0])
    if desired.get("master_key_source") == "generate":
        raise CommandExecutionError("litellm:master_key_source is generate: the minion keeps its own key")
    target = render.paths(desired)["master_key_file"]
    if path is not None and path != target:
        raise CommandExecutionError(f"{path} is not the formula's key file ({target}): refusing to write a key there")
    problem = _master_key_problem(desired)
    if problem:
        raise CommandExecutionError(problem)
    key = _resolved_master_key(desired)
    current = keys.read_env_file_value(target, schema.MASTER_KEY_ENV)
    old = keys.fingerprint(current) if current else None
    same = current == key and keys.secret_file_is(target, keys.master_key_file_text(key))
    result = {"file": target, "old": old, "new": keys.fingerprint(key)}
    if same or test:
        return {**result, "changed": None if not same else False}
    keys.write_secret_file(target, keys.master_key_file_text(key))
    return {**result, "changed": True}


def _secret_file(content, desired):
    """``(path, text, names)`` of a root-only file whose text holds secrets (sdb:// resolved)."""
    where = render.paths(desired)
    if content == "environment":
        env = {name: str(_resolved(value)) for name, value in render.service_environment(desired).items()}
        text = "# Managed by Salt (litellm-formula). The master key lives in master_key.env.\n" + render.env_file_text(env)
        return where["env_file"], text, env
    if content == "pip_config":
        pip = dict(desired["pip"])
        pip["index_url"] = _resolved(pip.get("index_url") or "")
        for key in ("extra_index_urls", "find_links"):
            pip[key] = [_resolved(url) for url in pip.get(key) or []]
        settings_of = {"index-url": pip["index_url"], "extra-index-url": pip["extra_index_urls"],
                       "find-links": pip["find_links"], "no-index": pip["no_index"]}
        return where["pip_config"], render.pip_config_text(pip), settings_of
    if content in ("tls_certificate", "tls_key"):
        what = content[len("tls_"):]
        texts, problems = _tls_texts(desired)
        if problems or what not in texts:
            raise CommandExecutionError("\n".join(problems) or f"{schema.PILLAR_KEY}:tls:{what}: not set as PEM text")
        return where[content], texts[what], {f"tls:{what}": texts[what]}
    raise CommandExecutionError(f"content: got {content!r}, expected environment, pip_config, tls_certificate "
                                "or tls_key")


def write_secret_file(content, path=None, test=False):
    """
    Write one of the formula's root-only files that hold secrets from pillar: ``environment`` (the
    service's environment file: ``environment`` values and the secrets moved out of
    ``extra_config``) or ``pip_config`` (``<install_dir>/pip.conf``: every package source, index
    credentials included, so none is on pip's command line). ``sdb://`` values are resolved once per
    state run. Atomic, root, mode 0600; ``path`` must be the formula's file. Returns the file, whether
    it changed and the names of what changed, never a value. Used by the
    ``litellm.secret_file_managed`` state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.write_secret_file environment test=True
    """
    desired = _once_per_run("desired", lambda: _valid()[0])
    # Only into the formula's own directories (from the command line too: never a takeover).
    problems = _secret_problems(desired) or _ownership_problems(desired)
    if problems:
        raise CommandExecutionError("\n".join(problems))
    target, text, values = _secret_file(content, desired)
    if path is not None and path != target:
        raise CommandExecutionError(f"{path} is not the formula's {content} file ({target}): refusing to write there")
    same = keys.secret_file_is(target, text)
    if content == "environment":
        old = keys.env_file_values(target)
        changed_names = sorted({name for name in values if old.get(name) != values[name]} | (set(old) - set(values)))
    else:
        changed_names = [] if same else sorted(values)
    result = {"file": target, "names": changed_names}
    if same or test:
        return {**result, "changed": None if not same else False}
    # pip.conf lives in install_dir, which the virtualenv state makes on a first apply; the TLS
    # texts in <config_dir>/tls, root only.
    os.makedirs(os.path.dirname(target), mode=0o700 if content.startswith("tls_") else 0o755, exist_ok=True)
    keys.write_secret_file(target, text)
    return {**result, "changed": True}


# --------------------------------------------------------------------------------------------------
# Side-by-side virtualenvs: build from the lock, switch, roll back, prune
# --------------------------------------------------------------------------------------------------


def _install_context():
    """The settings and install plan of this state run (the render's), checked against the ledger:
    every path below comes from them, never from a caller."""
    desired = _once_per_run("desired", lambda: _valid()[0])
    problems = _ownership_problems(desired)
    if problems:
        raise CommandExecutionError("\n".join(problems))
    plan = _once_per_run("install", install_plan)
    return desired, plan, render.paths(desired)


def _run(argv, env):
    # Argument lists, no shell; output kept out of the minion log (pip prints index URLs).
    out = __salt__["cmd.run_all"](argv, python_shell=False, env=env or None, ignore_retcode=True,
                                  output_loglevel="quiet", redirect_stderr=True)
    return out["retcode"], out["stdout"] or ""


def _running_venv(where):
    return _link_target(where["venv"]) or (
        where["legacy_venv"] if os.path.isfile(os.path.join(where["legacy_venv"], "bin", "python")) else None)


def build_venv(test=False):
    """
    Build the virtualenv this pillar runs, ``<install_dir>/venvs/<version>-<lock digest>``, from the
    hash lock (``pip install --require-hashes --no-deps``, the sources from ``pip.conf``): every
    installed file is checked against a hash in the lock, and a wheel whose hash differs is refused,
    named in the error. A half-built virtualenv is removed and built again; a failed build is removed.
    Nothing here touches the virtualenv the proxy runs. Used by the ``litellm.venv_built`` state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.build_venv test=True
    """
    desired, plan, where = _install_context()
    path, digest, lock_path = plan["venv"], plan["lock"]["digest"], plan["lock"]["path"]
    if not install.inside(path, where["venvs_dir"]):
        raise CommandExecutionError(f"{path} is not inside {where['venvs_dir']}: refusing to build there")
    if venv.built_from(path) == digest:
        return {"changed": False, "ok": True, "venv": path, "comment": f"{path} is built from lock {digest[:12]}"}
    if test:
        return {"changed": None, "ok": True, "venv": path,
                "comment": f"Would build {path} from {plan['lock']['source']} (pip --require-hashes)"}
    copied = _read_lock(lock_path)
    if copied is None or lock.digest(copied) != digest:
        raise CommandExecutionError(f"{lock_path} is not the lock this apply rendered from ({plan['lock']['source']})")
    os.makedirs(where["venvs_dir"], mode=0o755, exist_ok=True)
    ok, comment = install.build(path, desired["python"], lock_path, digest, render.pip_pins(desired),
                                where["pip_config"], _run,
                                in_use=(_running_venv(where), _link_target(where["previous_venv"])))
    return {"changed": ok, "ok": ok, "venv": path, "comment": comment}


def switch_venv(test=False):
    """
    Point ``<install_dir>/current`` (what the unit runs) at the virtualenv this pillar runs, in one
    atomic rename, after that virtualenv's LiteLLM accepted the deployed ``config.yaml``; the
    virtualenv it pointed at becomes ``<install_dir>/previous``. A refused config switches nothing.
    The running proxy is not touched: the service's restart runs the new one. Used by the
    ``litellm.venv_switched`` state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.switch_venv test=True
    """
    desired, plan, where = _install_context()
    target, now = plan["venv"], _running_venv(where)
    if now == target:
        return {"changed": False, "ok": True, "comment": f"{where['venv']} points at {target}"}
    if test:
        return {"changed": None, "ok": True, "old": now, "new": target,
                "comment": f"Would check config.yaml with {target}, then point {where['venv']} at it "
                           f"(previous: {now or 'none'})"}
    if venv.built_from(target) != plan["lock"]["digest"]:
        raise CommandExecutionError(f"{target} is not built (the build state failed?): nothing switched")
    code, out = _run(render.check_config_argv(desired, target) + [where["config_file"]], {})
    if code != 0:
        return {"changed": False, "ok": False,
                "comment": f"{target} refused {where['config_file']} (nothing switched): {out.strip()[-800:]}"}
    if now and __salt__["service.status"](desired["service_name"]):
        problem = _trial_start(desired, target, where)
        if problem:
            return {"changed": False, "ok": False, "comment": f"{target} did not serve in a trial start beside the "
                                                              f"live proxy (nothing switched): {problem}"}
    if now:
        install.point(where["previous_venv"], now)
    install.point(where["venv"], target)
    return {"changed": True, "ok": True, "old": now, "new": target,
            "comment": f"{where['venv']} now points at {target} (previous: {now or 'none'})"}


def _free_loopback_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _trial_start(desired, target, where):
    """Start ``target``'s proxy beside the live one (one worker, a free loopback port, a throwaway
    master key), wait until it serves every model, stop it. Returns None, or what went wrong with its
    journal's error lines."""
    port = _free_loopback_port()
    args = render.server_args({**desired, "num_workers": 1}, 1)
    key = keys.new_master_key()
    key_file = f"/run/{desired['service_name']}-trial.env"
    keys.write_secret_file(key_file, keys.master_key_file_text(key))
    unit, argv = install.trial_argv(desired, target, port, where, args, key_file)
    _systemctl("stop", f"{unit}.service")  # one a killed apply left
    _systemctl("reset-failed", f"{unit}.service")
    since = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    try:
        code, out = _run(argv, {})
        if code != 0:
            return f"systemd-run failed: {out.strip()[-500:]}"
        deadline = time.monotonic() + float(desired["startup_timeout"])
        while True:
            report = health_checks.check_proxy(f"http://127.0.0.1:{port}", key,
                                               [model["name"] for model in desired["models"]], timeout=5)
            if report["ok"]:
                return None
            active = _systemctl("is-active", f"{unit}.service")["stdout"].strip()
            if active not in ("active", "activating") or time.monotonic() > deadline:
                journal = __salt__["cmd.run_all"](
                    ["journalctl", "--no-pager", "-o", "cat", "-u", f"{unit}.service", "--since", since],
                    python_shell=False, ignore_retcode=True, output_loglevel="quiet")["stdout"]
                return (f"{report['problem']} ({unit}: {active}); error lines:\n"
                        + health_checks.error_lines(journal, keep=12, whole_lines=True))
            time.sleep(1)
    finally:
        _systemctl("stop", f"{unit}.service")
        if os.path.exists(key_file):
            os.unlink(key_file)


def roll_back_venv(to=None, timeout=120, test=False):
    """
    After a failed health gate: if this apply switched ``<install_dir>/current``, point it back at
    ``to`` (the virtualenv that ran before the apply), restart the service and wait until it serves.
    Returns ``rolled_back`` (false when this apply switched nothing) and what the proxy says. Used
    by the ``litellm.venv_rolled_back`` state, which fails the apply either way.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.roll_back_venv to=/opt/litellm/venvs/1.108.6-0123456789ab
    """
    desired, plan, where = _install_context()
    now = _running_venv(where)
    if not to or now is None or os.path.normpath(to) == os.path.normpath(now):
        return {"rolled_back": False, "comment": "this apply did not switch the virtualenv: nothing to roll back"}
    legacy = os.path.normpath(to) == os.path.normpath(where["legacy_venv"]) and install.is_legacy(to)
    if not (legacy or install.is_ours(to, where["venvs_dir"])):
        return {"rolled_back": False, "comment": f"{to} is not a virtualenv of this deployment (or is gone): "
                                                 "cannot roll back to it"}
    if test:
        return {"rolled_back": None, "comment": f"Would point {where['venv']} back at {to} and restart"}
    install.point(where["venv"], to)
    install.point(where["previous_venv"], now)
    # A crash loop of the failed release may have hit the start limit: clear it, or the restart is refused.
    _systemctl("reset-failed", f"{desired['service_name']}.service")
    __salt__["service.restart"](desired["service_name"])
    deadline = time.monotonic() + float(timeout)
    while True:
        report = proxy_status(timeout=5, name=desired["service_name"])
        if report["ok"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    return {"rolled_back": True, "from": now, "to": to, "serving": report["ok"], "problem": report.get("problem"),
            "comment": f"rolled back to {to} ({now} did not serve)"
                       + ("" if report["ok"] else f"; {to} does not serve either: {report.get('problem')}")}


def prune_venvs(test=False):
    """
    Remove every virtualenv of this deployment except the current and the previous one (and the
    lock copies they were built from), once the proxy serves. Only inside ``<install_dir>``.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.prune_venvs test=True
    """
    desired, plan, where = _install_context()
    current = _running_venv(where)
    previous = _link_target(where["previous_venv"])
    if test and current != plan["venv"]:
        current, previous = plan["venv"], current  # what the switch of this run will have done
    doomed = [path for path in install.keep(current, previous, where["venvs_dir"], where["legacy_venv"])
              if install.inside(path, desired["install_dir"])]
    if doomed and not test:
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)
            lock_copy = os.path.join(where["locks_dir"], os.path.basename(path) + ".txt")
            if path.startswith(where["venvs_dir"] + os.sep) and install.inside(lock_copy, where["locks_dir"]):
                os.unlink(lock_copy)
    return {"removed": doomed, "changed": (None if test else True) if doomed else False}


# --------------------------------------------------------------------------------------------------
# The running proxy: the deployment record and local files only
# --------------------------------------------------------------------------------------------------


def _record_dir():
    # A minion option, not pillar: where this minion keeps its records (tests point it elsewhere).
    return __opts__.get("litellm_record_dir") or record.RECORD_DIR


def _deployed(name=None):
    try:
        service = record.choose(record.records(_record_dir()), name)
        return record.load(record.record_path(service, _record_dir()))
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from None


def _drift(deployed):
    return record.pillar_drift(deployed, _plain(__pillar__.get(schema.PILLAR_KEY)))


def _master_key(deployed):
    return keys.read_env_file_value(deployed["master_key"]["file"], schema.MASTER_KEY_ENV)


def deployment(name=None):
    """
    Return the deployment record of this minion's proxy (what the last apply deployed: names, paths,
    address, models and backends, version, server, key source and key file, digests; no secret) and
    whether pillar now differs from it (``pillar``: matches, differs or unknown).

    CLI Example:

    .. code-block:: bash

        salt-call litellm.deployment
        salt '*' litellm.deployment name=litellm
    """
    deployed = _deployed(name)
    return {**deployed, **_drift(deployed)}


def proxy_status(timeout=5, name=None):
    """
    Check the deployed proxy once: /health/liveliness, /health/readiness, and /v1/models with the
    master key from its environment file, which must list every deployed model. The key is not shown.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.proxy_status
    """
    deployed = _deployed(name)
    report = health_checks.check_proxy(deployed["url"], _master_key(deployed) or "", list(deployed["models"]),
                                       cafile=deployed.get("tls_certificate"), probe_url=deployed.get("probe_url"),
                                       timeout=timeout)
    return {**report, **_drift(deployed)}


def journal_tail(name=None, lines=20, errors_only=False):
    """
    Return the last lines the deployed service wrote to the journal; with ``errors_only``, only the
    lines among them that look like errors (error, errno, traceback, exception, failed), each once.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.journal_tail lines=50
        salt-call litellm.journal_tail lines=500 errors_only=True
    """
    unit = f"{name}.service" if name else _deployed()["unit"]
    result = __salt__["cmd.run_all"](
        ["journalctl", "-u", unit, "-n", str(int(lines)), "--no-pager", "-o", "short-iso"],
        python_shell=False,
        ignore_retcode=True,
    )
    return health_checks.error_lines(result["stdout"]) if errors_only else result["stdout"]


def health(deep=False, timeout=5, strict=False, url=None, name=None):
    """
    Check the deployed gateway and everything behind it, concurrently, each check bounded by
    ``timeout`` seconds (the whole takes about the slowest check, not their sum):

    - the proxy on this minion: /health/liveliness, /health/readiness and /v1/models with the master
      key from the environment file, which must list every deployed model (the key is never shown);
    - every Ollama backend directly: reachable, its version, latency, and whether each model it should
      serve is present (/api/tags);
    - with ``deep=True``, one real one-token completion per model through the proxy.

    Returns ``healthy`` (the gateway can serve every model), ``status`` (healthy, degraded: a backend
    is down or lacks a model, unhealthy), a one-line ``summary``, per-proxy, per-backend and
    per-model detail (``backends_up``/``backends_total``), and ``pillar`` (matches, differs: an apply
    is due, or unknown). It reads the deployment record, not pillar: it works with the master down
    (``salt-call --local litellm.health``). salt-call exits non-zero when not healthy, or also when
    degraded with ``strict=True``. ``url`` checks another address instead of the deployed proxy:
    the master key is then never sent (``key_sent: false``) and the model list is not checked.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.health
        salt-call litellm.health deep=True timeout=3
        salt -G 'roles:llm-proxy' litellm.health strict=True
    """
    deployed = _deployed(name)
    # The key goes only to the deployed proxy, never to an address a caller typed.
    key_sent = url is None or url.rstrip("/") == deployed["url"]
    report = health_checks.health_report(
        deployed["url"] if key_sent else url.rstrip("/"),
        (_master_key(deployed) or "") if key_sent else None,
        {model: detail["backends"] for model, detail in deployed["models"].items()},
        {model: detail["tag"] for model, detail in deployed["models"].items()},
        timeout=float(timeout),
        deep=bool(deep),
        cafile=deployed.get("tls_certificate") if key_sent else None,
        probe_url=deployed.get("probe_url") if key_sent else None,
    )
    report["key_sent"] = key_sent
    if not key_sent:
        report["summary"] += f"; master key not sent to {url} (not the deployed proxy {deployed['url']}): models not checked"
    drift = _drift(deployed)
    report["pillar"] = drift["pillar"]
    if drift["pillar"] == "differs":
        report["summary"] += f"; {drift['comment']}"
    if not report["healthy"] or (strict and report["status"] != "healthy"):
        __context__["retcode"] = 1
    return report


def version(name=None):
    """
    Return the LiteLLM release installed in the deployed virtualenv and the one the deployment pins.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.version
    """
    deployed = _deployed(name)
    path = deployed["paths"]["venv"]
    installed = venv.installed_distributions(path).get("litellm")
    return {"installed": installed, "pinned": deployed["version"], "venv": path, **_drift(deployed)}


def master_key_fingerprint(name=None):
    """
    Return the fingerprint (first 12 hex digits of the SHA-256) of the live master key, read from the
    deployed environment file on this minion. The key itself is never returned.

    CLI Example:

    .. code-block:: bash

        salt '*' litellm.master_key_fingerprint
    """
    key = _master_key(_deployed(name))
    if not key:
        raise CommandExecutionError("no master key on this minion yet: apply the formula first")
    return keys.fingerprint(key)


def master_key_age(max_age=None, name=None):
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
        limit = None if max_age is None else keys.parse_age(max_age)
    except ValueError as exc:
        raise CommandExecutionError(f"max_age: {exc}") from exc
    deployed = _deployed(name)
    key = _master_key(deployed)
    if not key:
        raise CommandExecutionError("no master key on this minion yet: apply the formula first")
    mtime = os.stat(deployed["master_key"]["file"]).st_mtime
    seconds = max(0.0, time.time() - mtime)
    return {
        "seconds": int(seconds),
        "age": keys.format_age(seconds),
        "since": datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": keys.fingerprint(key),
        "source": deployed["master_key"]["source"],
        "due": None if limit is None else seconds >= limit,
        **_drift(deployed),
    }


def _fire_event(tag, data):
    # Masterless minions have no master to send to: keep the event on the local bus.
    if __opts__.get("file_client") == "local" or __opts__.get("master_type") == "disable":
        return __salt__["event.fire"](data, tag)
    return __salt__["event.send"](tag, data)


def _install_key(deployed, key):
    uri = deployed["master_key"]["sdb_uri"]
    if deployed["master_key"]["source"] == "sdb" and not __salt__["sdb.set"](uri, key):
        raise CommandExecutionError(f"sdb.set refused the new key for {uri}")
    keys.write_secret_file(deployed["master_key"]["file"], keys.master_key_file_text(key))


def _restart_and_verify(deployed, new_key, old_key):
    unit = deployed["unit"]
    # A unit that hit its start limit refuses restarts until reset.
    __salt__["cmd.run_all"](["systemctl", "reset-failed", unit], python_shell=False, ignore_retcode=True)
    restart = __salt__["cmd.run_all"](["systemctl", "restart", unit], python_shell=False, ignore_retcode=True)
    if restart["retcode"] != 0:
        # Definitive (e.g. a failing ExecStartPre): no point waiting for the proxy.
        return f"systemctl restart {unit} failed: {(restart['stderr'] or restart['stdout']).strip()[:300]}"
    deadline = time.monotonic() + deployed["startup_timeout"]
    return keys.wait_for_key(deployed["url"], new_key, old_key, deadline, cafile=deployed.get("tls_certificate"))


def rotate_master_key(test=False, name=None):
    """
    Replace the master key with a new CSPRNG key ('sk-' plus 43 URL-safe characters): write it
    atomically (root only), restart the service, and verify that the new key is accepted and the old
    one refused. On any failure the old key is put back, the service restarted and verified again, and
    the result says it rolled back (salt-call exits non-zero). Returns fingerprints and times, never
    a key, and fires ``salt/litellm/master_key/rotated`` carrying the fingerprint only.

    A key given in pillar stays authoritative and is not rotated here (the function explains how to
    rotate it); an ``sdb://`` key is rotated through ``sdb.set``; a generated key
    (``master_key_source: generate``) is rotated in place. Reads the deployment record, not pillar.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.rotate_master_key
        salt-call litellm.rotate_master_key test=True
    """
    deployed = _deployed(name)
    source = deployed["master_key"]["source"]
    if source == "pillar":
        raise CommandExecutionError(keys.PILLAR_KEY_IS_AUTHORITATIVE)
    old_key = _master_key(deployed)
    if not old_key:
        raise CommandExecutionError("no master key on this minion yet: apply the formula first")
    service = deployed["service_name"]
    if test or __opts__.get("test"):
        return {"result": None, "rotated": False, "source": source, "fingerprint": keys.fingerprint(old_key),
                "comment": f"Would rotate the master key of {service} (now {keys.fingerprint(old_key)}, from "
                           f"{source}), restart it and verify the new key"}
    drift = _drift(deployed)
    if drift["pillar"] == "differs":
        log.warning("litellm.rotate_master_key: %s", drift["comment"])
    started = time.monotonic()
    new_key = keys.new_master_key()
    _install_key(deployed, new_key)
    problem = _restart_and_verify(deployed, new_key, old_key)
    result = {"source": source, "previous_fingerprint": keys.fingerprint(old_key), **drift}
    if problem is None:
        rotated_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result.update({"result": True, "rotated": True, "rolled_back": False, "fingerprint": keys.fingerprint(new_key),
                       "rotated_at": rotated_at, "duration_s": round(time.monotonic() - started, 1),
                       "comment": f"Rotated the master key of {service} and verified it"})
        _fire_event("salt/litellm/master_key/rotated",
                    {"service": service, "fingerprint": keys.fingerprint(new_key),
                     "previous_fingerprint": keys.fingerprint(old_key), "rotated_at": rotated_at})
        return result
    # Roll back: the old key, a restart, and proof that the old key works again.
    _install_key(deployed, old_key)
    rollback_problem = _restart_and_verify(deployed, old_key, None)
    __context__["retcode"] = 1
    result.update({"result": False, "rotated": False, "rolled_back": True, "fingerprint": keys.fingerprint(old_key),
                   "duration_s": round(time.monotonic() - started, 1),
                   "comment": f"Rotation failed ({problem}); rolled back to the previous key"
                              + (f", but the proxy still fails: {rollback_problem}" if rollback_problem
                                 else ", which the proxy accepts again")})
    return result


def ensure_generated_master_key(path=None, test=False):
    """
    Create the formula's master-key environment file with a new CSPRNG key if it holds no valid key
    (the ``master_key_source: generate`` mode); an existing key is never replaced. ``path`` must be
    that file (the one pillar places under ``config_dir``): nothing else is ever written. Returns the
    key's fingerprint and whether it was created. Used by the ``litellm.master_key_generated`` state.

    CLI Example:

    .. code-block:: bash

        salt-call litellm.ensure_generated_master_key
    """
    desired = _once_per_run("desired", lambda: _valid()[0])
    target = render.paths(desired)["master_key_file"]
    if path is not None and path != target:
        raise CommandExecutionError(f"{path} is not the formula's key file ({target}): refusing to write a key there")
    path = target
    current = keys.read_env_file_value(path, schema.MASTER_KEY_ENV)
    if current and schema.master_key_problem(current) is None:
        return {"created": False, "fingerprint": keys.fingerprint(current)}
    if test:
        return {"created": None, "fingerprint": None}
    key = keys.new_master_key()
    keys.write_secret_file(path, keys.master_key_file_text(key))
    return {"created": True, "fingerprint": keys.fingerprint(key)}
