#!/usr/bin/python3
"""Write the hash-locked requirements file the formula installs LiteLLM from.

    tools/lock.py 1.108.7                       # with the formula's default extra_pip_packages
    tools/lock.py 1.108.7 --extra prisma==0.15.0 --extra httptools==0.9.0 --output FILE

pip resolves litellm[proxy]==VERSION plus the extra pins for the interpreter running this tool, binary
wheels only, installing nothing. Each distribution is locked with the sha256 of the wheel pip chose plus
those of the other wheels of that version the index offers for the same CPython on manylinux x86_64, so
a host with another glibc still finds a wheel it may install. Install with
`pip install --require-hashes --no-deps -r LOCK`. Stdlib only, plus the interpreter's own pip.
"""

import argparse
import html
import json
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from pip._vendor.packaging import tags
from pip._vendor.packaging.version import Version

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULTS = REPO / "litellm/parameters/defaults.yaml"
INDEX = "https://pypi.org/simple/"
ANCHOR = re.compile(r'<a\s[^>]*href="([^"]+)"[^>]*>([^<]+)</a>')
MANYLINUX_X86_64 = re.compile(r"manylinux(1|2010|2014|_\d+_\d+)_x86_64")


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def default_extras():
    """`extra_pip_packages` from defaults.yaml, read line by line: this tool must not need PyYAML."""
    extras, inside = [], False
    for line in DEFAULTS.read_text().splitlines():
        stripped = line.strip()
        if stripped == "extra_pip_packages:":
            inside = True
        elif inside and stripped.startswith("- "):
            extras.append(stripped[2:].strip().strip("'\""))
        elif inside and stripped and not stripped.startswith("#"):
            break
    return extras


def resolve(requirements, index):
    """pip's installation report for the requirements: what it would install, nothing installed.
    --isolated drops this host's extra indexes and find-links (not /etc/pip.conf), so the lock says what
    the index serves; --dry-run with --report is exempt from PEP 668, so the OS Python may run it."""
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp, "report.json")
        subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--quiet", "--dry-run",
                        "--ignore-installed", "--only-binary=:all:", "--index-url", index,
                        "--report", str(report), *requirements], check=True, cwd=tmp)
        return json.loads(report.read_text())


def chosen_sha256(item):
    info = item["download_info"].get("archive_info", {})
    # pip >= 23.0 writes "hashes"; 22.2 only "hash": "sha256=...".
    digest = info.get("hashes", {}).get("sha256") or info.get("hash", "").partition("sha256=")[2]
    if not digest:
        sys.exit(f"lock: pip reported no sha256 for {item['download_info']['url']}")
    return digest


def wheel_fits(filename, name, version, interpreters):
    """Whether a file is a wheel of exactly name==version that this CPython may install on manylinux x86_64."""
    if not filename.endswith(".whl"):
        return False
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6) or normalize(parts[0]) != name or Version(parts[1]) != version:
        return False
    pythons, abis, platforms = (part.split(".") for part in parts[-3:])
    return any((py, abi) in interpreters for py in pythons for abi in abis) and any(
        plat == "any" or MANYLINUX_X86_64.fullmatch(plat) for plat in platforms)


def index_hashes(index, name, version, interpreters):
    """sha256 of every fitting wheel the index's PEP 503 page lists for name==version."""
    with urllib.request.urlopen(f"{index.rstrip('/')}/{name}/", timeout=60) as page:
        text = page.read().decode()
    found = set()
    for href, filename in ANCHOR.findall(text):
        _, _, fragment = html.unescape(href).partition("#sha256=")
        if fragment and wheel_fits(filename.strip(), name, version, interpreters):
            found.add(fragment)
    return found


def lock_lines(report, index):
    interpreters = {(tag.interpreter, tag.abi) for tag in tags.sys_tags()}
    pins = {normalize(item["metadata"]["name"]): (item["metadata"]["version"], chosen_sha256(item))
            for item in report["install"]}

    def line(name):
        version, chosen = pins[name]
        hashes = {chosen} | index_hashes(index, name, Version(version), interpreters)
        return f"{name}=={version} " + " ".join(f"--hash=sha256:{h}" for h in sorted(hashes))

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(line, sorted(pins)))


def header(version, extras, index, report):
    pip_version = report.get("pip_version", "?")
    libc = "".join(platform.libc_ver())
    command = " ".join(["tools/lock.py", version, *(f"--extra {pin}" for pin in extras)])
    return [
        f"# litellm[proxy]=={version}" + (f" with {', '.join(extras)}" if extras else "")
        + " and all their dependencies, hash-locked.",
        "# Install: pip install --require-hashes --no-deps -r THIS_FILE",
        f"# Regenerate: {command}",
        f"# For CPython {sys.version_info[0]}.{sys.version_info[1]} on manylinux x86_64, wheels only (resolved with "
        f"CPython {platform.python_version()}, {libc}, pip {pip_version}, index {index}).",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="LiteLLM release, e.g. 1.108.7")
    parser.add_argument("--extra", action="append", metavar="NAME==VERSION",
                        help="an extra pin (repeatable); default: extra_pip_packages of defaults.yaml")
    parser.add_argument("--output", type=pathlib.Path, help="default: litellm/files/default/locks/litellm-VERSION.txt")
    parser.add_argument("--index-url", default=INDEX, help=f"PEP 503 index (default {INDEX})")
    args = parser.parse_args()
    extras = args.extra if args.extra is not None else default_extras()
    output = args.output or REPO / f"litellm/files/default/locks/litellm-{args.version}.txt"

    report = resolve([f"litellm[proxy]=={args.version}", *extras], args.index_url)
    lines = header(args.version, extras, args.index_url, report) + lock_lines(report, args.index_url)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    print(f"lock: wrote {output} ({len(report['install'])} distributions)", file=sys.stderr)


if __name__ == "__main__":
    main()
