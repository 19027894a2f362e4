"""
Side-by-side virtualenvs: one per pinned set, built from a hash lock, switched by one atomic link.

Layout under ``install_dir``: ``venvs/<version>-<lock digest>/`` (each a complete virtualenv),
``locks/<same name>.txt`` (the lock it was built from), ``current`` (the link the unit runs) and
``previous`` (the link a rollback goes back to). The running proxy keeps its own virtualenv's real
paths (its scripts' shebangs name them), so moving ``current`` never changes what a live process
imports; the next (re)start runs the new one.

Commands run through ``run(argv, env) -> (returncode, output)`` so the rules are unit-tested
without pip.
"""

import os
import re
import shutil

from . import lock
from .venv import BUILT_MARKER, installed_distributions, missing_pins

PIP_FLAGS = ["install", "--require-hashes", "--no-deps", "--only-binary=:all:", "--no-input",
             "--disable-pip-version-check"]


# <version>-<12 hex of the lock digest>: the only names the formula gives its virtualenvs.
NAME_RE = re.compile(r"^[0-9][0-9A-Za-z.+!]*-[0-9a-f]{12}$")


def inside(path, directory):
    """True when ``path`` is strictly inside ``directory`` once every link is resolved, and is not
    a link itself: a link planted under install_dir never leads the formula elsewhere."""
    if os.path.islink(path):
        return False
    real, base = os.path.realpath(path), os.path.realpath(directory)
    return real.startswith(base + os.sep)


def is_ours(path, venvs_dir):
    """A virtualenv the formula built: a real directory named like one, directly in venvs_dir,
    carrying the built marker."""
    return (os.path.dirname(os.path.normpath(path)) == os.path.normpath(venvs_dir)
            and bool(NAME_RE.match(os.path.basename(path))) and inside(path, venvs_dir)
            and os.path.isdir(path) and os.path.isfile(os.path.join(path, BUILT_MARKER)))


def is_legacy(path):
    """The in-place virtualenv of 0.3.0 and earlier (<install_dir>/venv): a real directory with pyvenv.cfg."""
    return os.path.isdir(path) and not os.path.islink(path) and os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def build(path, python, lock_path, digest, pins, pip_config, run, in_use=()):
    """Build the virtualenv ``path`` from the lock; returns ``(ok, comment)``. A half-built one of
    that name (no marker) is removed first, a failed build after: the marker, written last, is what
    makes it usable. ``in_use`` (current, previous) is never removed."""
    venvs_dir = os.path.dirname(path)
    if os.path.islink(venvs_dir) or not NAME_RE.match(os.path.basename(path)):
        return False, f"{path} is not a virtualenv name of the formula's in a real {venvs_dir}: refusing to build"
    if any(p and os.path.realpath(p) == os.path.realpath(path) for p in in_use):
        return False, f"{path} is in use (current or previous) but incomplete: remove it by hand after a look"
    if os.path.lexists(path):
        if not inside(path, venvs_dir):
            return False, f"{path} is a link: refusing to build there"
        shutil.rmtree(path)
    code, out = run([python, "-m", "venv", path], {})
    if code != 0:
        shutil.rmtree(path, ignore_errors=True)
        return False, f"{python} -m venv {path} failed: {out.strip()[-500:]}"
    code, out = run([os.path.join(path, "bin", "python"), "-m", "pip", *PIP_FLAGS, "-r", lock_path],
                    {"PIP_CONFIG_FILE": pip_config})
    if code != 0:
        shutil.rmtree(path, ignore_errors=True)
        refused = lock.hash_mismatches(out)
        if refused:
            return False, ("pip refused, hash not in the lock " + lock_path + ": " + "; ".join(refused)
                           + " (nothing was switched)")
        return False, f"pip install --require-hashes -r {lock_path} failed (nothing was switched): {out.strip()[-800:]}"
    missing = missing_pins(pins, installed_distributions(path))
    if missing:
        shutil.rmtree(path, ignore_errors=True)
        return False, "the lock installed, but not " + ", ".join(f"{n}=={v}" for n, v in missing)
    with open(os.path.join(path, BUILT_MARKER), "w", encoding="utf-8") as handle:
        handle.write(digest + "\n")
    return True, f"built {path} from {lock_path} (every file checked against its hash)"


def point(link, target):
    """Make ``link`` point to ``target`` in one rename: a reader sees the old or the new target."""
    temporary = f"{link}.new"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.replace(temporary, link)


def keep(current, previous, venvs_dir, legacy):
    """What pruning removes: every virtualenv the formula built (named like one, with the marker)
    that is neither current nor previous, and the 0.3.0 in-place one once it is neither. Nothing
    else: a cut build (no marker) is left for the next build of that name."""
    kept = {os.path.normpath(p) for p in (current, previous) if p}
    doomed = []
    if os.path.isdir(venvs_dir) and not os.path.islink(venvs_dir):
        for entry in sorted(os.listdir(venvs_dir)):
            path = os.path.join(venvs_dir, entry)
            if os.path.normpath(path) in kept:
                continue
            if is_ours(path, venvs_dir):
                doomed.append(path)
    if is_legacy(legacy) and os.path.normpath(legacy) not in kept:
        doomed.append(legacy)
    return doomed


def trial_argv(settings, venv_path, port, where, server_args, key_file):
    """``systemd-run`` argument list of a trial start: the new virtualenv's proxy, as the service
    user with the service's environment files, on a loopback port no client uses, before any
    switch. ``key_file`` (root 0600, read last) gives it a throwaway master key: the trial is probed
    with that one, so whoever might answer on the port first never sees the real key. A release that
    cannot serve fails here, not in front of clients."""
    unit = f"{settings['service_name']}-trial"
    props = [f"User={settings['service_user']}", f"Group={settings['service_group']}",
             f"EnvironmentFile={where['env_file']}", f"EnvironmentFile={where['master_key_file']}",
             f"EnvironmentFile={key_file}", f"WorkingDirectory={settings['state_dir']}",
             f"ReadWritePaths={settings['state_dir']}", "UMask=0077", "NoNewPrivileges=yes", "PrivateTmp=yes",
             "ProtectSystem=strict", "ProtectHome=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes",
             "ProtectControlGroups=yes", "RestrictSUIDSGID=yes", "TimeoutStopSec=15"]
    return unit, (["systemd-run", f"--unit={unit}", "--collect", "--quiet", "--service-type=exec"]
                  + [f"--property={prop}" for prop in props]
                  + [f"{venv_path}/bin/litellm", "--config", where["config_file"], "--host", "127.0.0.1",
                     "--port", str(port), *server_args])

