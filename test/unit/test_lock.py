"""Unit tests of the hash-locked requirements (litellm_formula.lock), the lock files the formula ships
and the pure parts of tools/lock.py."""

import importlib.util

import pytest
import yaml
from helpers import REPO

from litellm_formula import lock

DEFAULTS = yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]
LOCKS = REPO / "litellm/files/default/locks"
H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64

# Real pip output, captured on Debian 12 with the pip that `python3 -m venv` bundles (23.0.1, the same
# as /usr/bin/python3's; pip 23.2.1 and 26.3 print the same report). Air-gapped install
# (--no-index --find-links) of a lock holding httptools, idna and six, one byte of the httptools wheel
# flipped. pip stops at the first refused file.
PIP_ALTERED_WHEEL = """\
Looking in links: /opt/wheels, fl
Processing ./fl/httptools-0.9.0-cp311-cp311-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package \
versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have \
tampered with them.
    httptools==0.9.0 from file:///tmp/lockdev/fl/httptools-0.9.0-cp311-cp311-manylinux1_x86_64.manylinux_2_28\
_x86_64.manylinux_2_5_x86_64.whl (from -r small.txt (line 1)):
        Expected sha256 b68fb053b37c258a473ab67f4965c3b439500dc160fe364667035a6833eaf50a
             Got        79f8db23230b2fb4feb09d7598dd8bd9c711f05a1dd548abbe8c6a01bb175d80

"""
# The same with a lock line holding two hashes (aiohttp: manylinux wheel and pure-Python fallback).
PIP_TWO_HASHES = """\
Looking in links: /opt/wheels, fl2
Processing ./fl2/aiohttp-3.14.5-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package \
versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have \
tampered with them.
    aiohttp==3.14.5 from file:///tmp/lockdev/fl2/aiohttp-3.14.5-cp311-cp311-manylinux2014_x86_64.manylinux_2_17\
_x86_64.manylinux_2_28_x86_64.whl (from -r aio.txt (line 1)):
        Expected sha256 50a195903119008fe9cc68710535eb37f556ffffd6a7759afe70a2c145587045
        Expected     or efc21a454892828368b11c2c780de0ff8bc991f73f6b99c6b66e56205470929b
             Got        54fc3cf9633afc7c7d6cdf4821e2c71562b7e24640588f544560e1d5bc51c30f

"""
# From an index (this machine's config: PyPI plus file:// mirrors), the lock's six hash wrong; the
# mirror's link carries a #sha256= fragment.
PIP_FROM_INDEX = """\
Looking in indexes: https://pypi.org/simple, file:///opt/pypi/simple, file:///opt/pypi-more/simple
Looking in links: /opt/wheels
WARNING: Location 'file:///opt/pypi-more/simple/idna/' is ignored: it is neither a file nor a directory.
Processing /opt/pypi/files/idna-3.20-py3-none-any.whl
WARNING: Location 'file:///opt/pypi-more/simple/six/' is ignored: it is neither a file nor a directory.
Processing /opt/pypi/files/six-1.17.0-py2.py3-none-any.whl
ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package \
versions, please update the hashes. Otherwise, examine the package contents carefully; someone may have \
tampered with them.
    six==1.17.0 from file:///opt/pypi/files/six-1.17.0-py2.py3-none-any.whl#sha256=4721f391ed90541fddacab5acf9\
47aa0d3dc7d27b2e1e8eda2be8970586c3274 (from -r sixbad.txt (line 2)):
        Expected sha256 8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254
             Got        4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274
"""


def load_tool():
    spec = importlib.util.spec_from_file_location("lock_tool", REPO / "tools/lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_reads_pins_hashes_comments_and_continuations():
    text = (f"# header\n\nPyYAML==6.0.4 --hash=sha256:{H1}  # inline comment\n"
            f"typing_extensions==4.16.0 \\\n    --hash=sha256:{H2} \\\n    --hash=sha256:{H3}\n")
    assert lock.parse(text) == {
        "pyyaml": {"name": "PyYAML", "version": "6.0.4", "hashes": [H1]},
        "typing-extensions": {"name": "typing_extensions", "version": "4.16.0", "hashes": [H2, H3]},
    }


@pytest.mark.parametrize("line", [
    "six>=1.17.0 --hash=sha256:" + H1,            # not an exact pin
    "six==1.17.0",                                # no hash
    "six==1.17.0 --hash=md5:" + "a" * 32,         # not sha256
    "six==1.17.0 --hash=sha256:" + "A" * 64,      # pip compares lowercase hex
    "six==1.17.0 --hash=sha256:" + H1[:-1],       # truncated
    "six[extra]==1.17.0 --hash=sha256:" + H1,     # extras mean nothing under --no-deps
    "six==1.17.0 \\\n  --hash=sha256:abc",         # reported at the line the continuation starts
    "Six==1.17.0 --hash=sha256:" + H2,            # locked twice (names normalized)
])
def test_parse_names_the_bad_line(line):
    with pytest.raises(ValueError, match=r"^lock line 3: "):
        lock.parse(f"# header\nsix==1.17.0 --hash=sha256:{H1}\n{line}\n")


def test_digest_ignores_comments_layout_and_order_but_not_content():
    base = f"# generated by A\na==1 --hash=sha256:{H1}\nb==2 --hash=sha256:{H2} --hash=sha256:{H3}\n"
    same = (f"# generated by B, other header\n\nB==2 \\\n  --hash=sha256:{H3}   --hash=sha256:{H2}\n"
            f"a==1 --hash=sha256:{H1}")
    assert lock.digest(base) == lock.digest(same)
    assert len(lock.digest(base)) == 64
    assert lock.digest(base) != lock.digest(base.replace("a==1", "a==1.1"))
    assert lock.digest(base) != lock.digest(base.replace(H1, H3))


def test_missing_pins_compares_normalized_names_and_exact_versions():
    parsed = lock.parse(f"litellm==1.108.7 --hash=sha256:{H1}\nTyping.Extensions==4.16.0 --hash=sha256:{H2}\n")
    pins = [["litellm", "1.108.7"], ["typing_extensions", "4.16.0"], ["prisma", "0.15.0"], ["LiteLLM", "1.108.6"]]
    assert lock.missing_pins(parsed, pins) == [["prisma", "0.15.0"], ["LiteLLM", "1.108.6"]]
    assert lock.missing_pins(parsed, []) == []


@pytest.mark.parametrize("output, expected", [
    (PIP_ALTERED_WHEEL, "httptools==0.9.0 (httptools-0.9.0-cp311-cp311-manylinux1_x86_64.manylinux_2_28_x86_64"
                        ".manylinux_2_5_x86_64.whl): expected sha256 b68fb053b37c..., got 79f8db23230b..."),
    (PIP_TWO_HASHES, "aiohttp==3.14.5 (aiohttp-3.14.5-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64"
                     ".manylinux_2_28_x86_64.whl): expected sha256 50a195903119... or efc21a454892..., "
                     "got 54fc3cf9633a..."),
    (PIP_FROM_INDEX, "six==1.17.0 (six-1.17.0-py2.py3-none-any.whl): expected sha256 8abb2f1d8689..., "
                     "got 4721f391ed90..."),
], ids=["altered wheel", "two hashes allowed", "from an index"])
def test_hash_mismatches_reads_pips_real_report(output, expected):
    assert lock.hash_mismatches(output) == [expected]


def test_hash_mismatches_reads_several_entries_and_ignores_other_failures():
    second = PIP_FROM_INDEX.split("tampered with them.\n", 1)[1]
    assert len(lock.hash_mismatches(PIP_ALTERED_WHEEL.rstrip("\n") + "\n" + second)) == 2
    assert lock.hash_mismatches("") == []
    missing = ("ERROR: Hashes are required in --require-hashes mode, but they are missing from some requirements.\n"
               "    six==1.17.0 --hash=sha256:" + H1 + "\n")
    assert lock.hash_mismatches(missing) == []
    assert lock.hash_mismatches("ERROR: Could not find a version that satisfies the requirement six==9\n") == []


@pytest.mark.parametrize("version", ["1.108.7", "1.108.6"])
def test_shipped_locks_hold_litellm_and_the_default_extras_all_hashed(version):
    text = (LOCKS / f"litellm-{version}.txt").read_text()
    parsed = lock.parse(text)
    pins = [["litellm", version]] + [pin.split("==") for pin in DEFAULTS["extra_pip_packages"]]
    assert lock.missing_pins(parsed, pins) == []
    assert all(entry["hashes"] for entry in parsed.values())
    names = [line.split("==")[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert names == sorted(parsed) and len(parsed) > 100  # one line per distribution, sorted
    assert f"# Regenerate: tools/lock.py {version} " in text


def test_lock_tool_reads_the_formulas_default_extras():
    assert load_tool().default_extras() == DEFAULTS["extra_pip_packages"]


@pytest.mark.parametrize("filename, fits", [
    ("pynacl-1.6.2-cp38-abi3-manylinux_2_34_x86_64.whl", True),
    ("pynacl-1.6.2-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", True),
    ("charset_normalizer-3.5.3-py3-none-any.whl", False),              # another project
    ("pynacl-1.6.2-py3-none-any.whl", True),
    ("pynacl-1.6.2-cp38-abi3-musllinux_1_2_x86_64.whl", False),
    ("pynacl-1.6.2-cp38-abi3-manylinux2014_aarch64.whl", False),
    ("pynacl-1.6.2-cp314-cp314t-manylinux_2_34_x86_64.whl", False),
    ("pynacl-1.6.20-cp38-abi3-manylinux_2_34_x86_64.whl", False),
    ("pynacl-1.6.2.tar.gz", False),
])
def test_lock_tool_keeps_only_wheels_this_cpython_installs_on_manylinux_x86_64(filename, fits):
    tool = load_tool()
    interpreters = {("cp311", "cp311"), ("cp311", "abi3"), ("cp38", "abi3"), ("py3", "none")}
    assert bool(tool.wheel_fits(filename, "pynacl", tool.Version("1.6.2"), interpreters)) is fits
