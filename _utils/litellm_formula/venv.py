"""
What a virtualenv holds, read from its files (no interpreter started, so a no-op apply stays cheap).
"""

import glob
import os
import re


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



# Written last into a virtualenv the formula built: the digest of the lock it was built from. A
# virtualenv without it is half-built (an install that failed or was cut) and is built again.
BUILT_MARKER = ".litellm-formula-lock"


def built_from(venv):
    """The lock digest a complete virtualenv was built from, or None."""
    try:
        with open(os.path.join(venv, BUILT_MARKER), encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None
