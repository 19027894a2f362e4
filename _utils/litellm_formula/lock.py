"""
Hash-locked requirements files (litellm/files/default/locks/, written by tools/lock.py): read them, check
they pin what the pillar asks for, and explain pip's refusals. The formula installs only from such a
file, with ``pip install --require-hashes --no-deps -r LOCK``.
"""

import hashlib
import re

# pip starts a comment at "#" at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s)#.*$")
_HASH = r"--hash=sha256:[0-9a-f]{64}"
_LINE = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)"
    rf"(?P<hashes>(?:\s+{_HASH})+)"
)

# pip's HashErrors report, identical in pip 23.0.1 (Debian 12's, and the one `python3 -m venv`
# bundles), 23.2.1 and 26.3: a heading, then per refused file
#     six==1.17.0 from file:///w/six-1.17.0-py2.py3-none-any.whl (from -r lock.txt (line 2)):
#         Expected sha256 <hex>
#         Expected     or <hex>        (one line per further hash the lock allows)
#              Got        <hex>
_MISMATCH_HEADING = "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE"
_MISMATCH_FILE = re.compile(r"^\s+(?P<req>\S+) from (?P<url>\S+?)(?: \(from .*\))?:\s*$")
_EXPECTED = re.compile(r"^\s+Expected\s+(?:or|(?P<algo>\w+))\s+(?P<hex>[0-9a-f]+)\s*$")
_GOT = re.compile(r"^\s+Got\s+(?P<hex>[0-9a-f]+)\s*$")
_SHORT = 12


def normalize(name):
    """A distribution name as PEP 503 compares them: lowercase, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _logical_lines(text):
    # (first physical line number, text): pip joins a line ending in a backslash with the next one.
    pending, start = "", None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw)
        if start is None:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield start, (pending + line).strip()
        pending, start = "", None
    if start is not None:
        yield start, pending.strip()


def parse(text):
    """``{normalized name: {"name", "version", "hashes": [hex, ...]}}`` of a lock file's text.

    Every requirement must read ``name==version --hash=sha256:<hex> [--hash=sha256:<hex> ...]``:
    anything looser would let pip pick a file no one reviewed. Comments, blank lines and backslash
    continuations are allowed. Raises ValueError naming the line of the first bad or repeated entry."""
    parsed = {}
    for number, line in _logical_lines(text):
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if not match:
            # The line itself is never shown: pillar can point lock_file at any file.
            raise ValueError(f"lock line {number}: expected 'name==version --hash=sha256:<64 lowercase hex>'")
        key = normalize(match["name"])
        if key in parsed:
            raise ValueError(f"lock line {number}: {match['name']} is locked twice")
        hashes = [part.split(":", 1)[1] for part in match["hashes"].split()]
        parsed[key] = {"name": match["name"], "version": match["version"], "hashes": hashes}
    return parsed


def digest(text):
    """sha256 hex of what a lock installs: its distributions, versions and hashes, in a canonical
    order. Comments, layout, line order and name spelling do not count, so editing the header does
    not make the formula reinstall. Raises ValueError as ``parse`` does."""
    parsed = parse(text)
    canonical = "".join(f"{key}=={parsed[key]['version']} {' '.join(sorted(parsed[key]['hashes']))}\n"
                        for key in sorted(parsed))
    return hashlib.sha256(canonical.encode()).hexdigest()


def missing_pins(parsed, pins):
    """The ``[name, version]`` pins (e.g. ``[["litellm", "1.108.7"], ["prisma", "0.15.0"]]``) that the
    parsed lock does not hold at exactly that version (names compared as PEP 503 does, versions as
    written), in the order given."""
    missing = []
    for name, version in pins:
        held = parsed.get(normalize(name))
        if held is None or held["version"] != str(version):
            missing.append([name, version])
    return missing


def _short(hexdigest):
    return hexdigest[:_SHORT] + "..." if len(hexdigest) > _SHORT else hexdigest


def hash_mismatches(pip_output):
    """One line per file pip refused because its hash is not in the lock, read from pip's output
    (stdout and stderr, in any mix), e.g. ``"httptools==0.9.0 (httptools-0.9.0-cp311-...whl):
    expected sha256 b68fb053b37c..., got 79f8db23230b..."``. pip stops at the first refused file, so
    this usually holds one entry; empty when pip refused nothing for a hash."""
    found, current, in_report = [], None, False

    def close():
        if current and current["got"]:
            expected = " or ".join(_short(h) for h in current["expected"])
            found.append(f"{current['req']} ({current['file']}): expected {current['algo']} {expected}, "
                         f"got {_short(current['got'])}")

    for line in pip_output.splitlines():
        if _MISMATCH_HEADING in line:
            in_report = True
            continue
        if not in_report:
            continue
        entry, expected, got = _MISMATCH_FILE.match(line), _EXPECTED.match(line), _GOT.match(line)
        if entry:
            close()
            filename = entry["url"].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            current = {"req": entry["req"], "file": filename, "algo": "sha256", "expected": [], "got": None}
        elif expected and current:
            current["algo"] = expected["algo"] or current["algo"]
            current["expected"].append(expected["hex"])
        elif got and current:
            current["got"] = got["hex"]
        elif line.strip() and not line[0].isspace():
            # An unindented line ends pip's report.
            close()
            current, in_report = None, False
    close()
    return found
