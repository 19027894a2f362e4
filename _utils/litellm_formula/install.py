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
import shutil

from . import lock
from .venv import BUILT_MARKER, installed_distributions, missing_pins

PIP_FLAGS = ["install", "--require-hashes", "--no-deps", "--only-binary=:all:", "--no-input",
             "--disable-pip-version-check"]


def inside(path, directory):
    """True when ``path`` is strictly inside ``directory`` (no ``..`` games)."""
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path.startswith(directory + os.sep) and ".." not in path.split(os.sep)


def build(path, python, lock_path, digest, pins, pip_config, run):
    """Build the virtualenv ``path`` from the lock; returns ``(ok, comment)``. A half-built one is
    removed first, a failed build is removed after: nothing half-installed is ever switched to."""
    if os.path.lexists(path):
        shutil.rmtree(path)
    code, out = run([python, "-m", "venv", path], {})
    if code != 0:
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
    """What pruning removes: every virtualenv that is neither current nor previous."""
    kept = {os.path.normpath(p) for p in (current, previous) if p}
    doomed = []
    if os.path.isdir(venvs_dir):
        for entry in sorted(os.listdir(venvs_dir)):
            path = os.path.join(venvs_dir, entry)
            if os.path.normpath(path) not in kept and not os.path.islink(path):
                doomed.append(path)
    if os.path.isdir(legacy) and not os.path.islink(legacy) and os.path.normpath(legacy) not in kept:
        doomed.append(legacy)
    return doomed


def trial_argv(settings, venv_path, port, where, server_args):
    """``systemd-run`` argument list of a trial start: the new virtualenv's proxy, as the service
    user with the service's environment files (the master key stays in its file), on a loopback
    port no client uses, before any switch. A release that cannot serve fails here, not in front of
    clients."""
    unit = f"{settings['service_name']}-trial"
    props = [f"User={settings['service_user']}", f"Group={settings['service_group']}",
             f"EnvironmentFile={where['env_file']}", f"EnvironmentFile={where['master_key_file']}",
             f"WorkingDirectory={settings['state_dir']}", "UMask=0077", "NoNewPrivileges=yes", "PrivateTmp=yes",
             "ProtectSystem=strict", "ProtectHome=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes",
             "ProtectControlGroups=yes", "RestrictSUIDSGID=yes", "TimeoutStopSec=15"]
    return unit, (["systemd-run", f"--unit={unit}", "--collect", "--quiet", "--service-type=exec"]
                  + [f"--property={prop}" for prop in props]
                  + [f"{venv_path}/bin/litellm", "--config", where["config_file"], "--host", "127.0.0.1",
                     "--port", str(port), *server_args])
