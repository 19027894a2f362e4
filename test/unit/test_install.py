"""Side-by-side virtualenvs (_utils/litellm_formula/install.py): build, switch, prune, without pip."""

import os

import pytest

from litellm_formula import install
from litellm_formula.venv import BUILT_MARKER, built_from

PINS = [["litellm", "1.108.7"]]


def fake_pip(installs=("litellm-1.108.7",), code=0, output=""):
    """A ``run`` that makes the venv and 'installs' dist-info directories, or fails like pip."""
    calls = []

    def run(argv, env):
        calls.append((argv, env))
        if argv[1:3] == ["-m", "venv"]:
            os.makedirs(os.path.join(argv[3], "bin"))
            os.makedirs(os.path.join(argv[3], "lib", "python3.11", "site-packages"))
            return 0, ""
        if code == 0:
            site = os.path.join(os.path.dirname(os.path.dirname(argv[0])), "lib", "python3.11", "site-packages")
            for dist in installs:
                os.makedirs(os.path.join(site, dist + ".dist-info"))
        return code, output

    run.calls = calls
    return run


def test_build_installs_only_from_the_lock_with_hashes_and_marks_the_venv_complete(tmp_path):
    venv = str(tmp_path / "venvs" / "1.108.7-abc")
    run = fake_pip()
    ok, comment = install.build(venv, "/usr/bin/python3", "/l.txt", "d" * 64, PINS, "/pip.conf", run)
    assert ok, comment
    pip_argv, pip_env = run.calls[1]
    assert pip_argv[1:] == ["-m", "pip", *install.PIP_FLAGS, "-r", "/l.txt"]
    assert "--require-hashes" in pip_argv and "--no-deps" in pip_argv
    assert pip_env == {"PIP_CONFIG_FILE": "/pip.conf"}
    assert built_from(venv) == "d" * 64


def test_a_half_built_venv_is_rebuilt_and_a_failed_build_leaves_nothing(tmp_path):
    venv = tmp_path / "venvs" / "1.108.7-abc"
    (venv / "bin").mkdir(parents=True)
    (venv / "leftover").write_text("from a cut install\n")
    mismatch = ("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n"
                "    httptools==0.9.0 from file:///w/httptools-0.9.0-cp311-x.whl:\n"
                "        Expected sha256 " + "a" * 64 + "\n             Got        " + "b" * 64 + "\n")
    ok, comment = install.build(str(venv), "/usr/bin/python3", "/l.txt", "d" * 64, PINS, "/p", fake_pip(
        code=1, output=mismatch))
    assert not ok and not venv.exists()
    assert "httptools==0.9.0" in comment and "nothing was switched" in comment


def test_a_lock_that_does_not_install_the_pins_is_refused(tmp_path):
    venv = tmp_path / "v"
    ok, comment = install.build(str(venv), "/usr/bin/python3", "/l.txt", "d" * 64, PINS, "/p",
                                fake_pip(installs=("litellm-1.108.6",)))
    assert not ok and "litellm==1.108.7" in comment and not venv.exists()
    assert not (venv / BUILT_MARKER).exists()


def test_point_swaps_a_link_in_one_rename(tmp_path):
    link = str(tmp_path / "current")
    install.point(link, str(tmp_path / "a"))
    install.point(link, str(tmp_path / "b"))
    assert os.readlink(link) == str(tmp_path / "b") and not os.path.lexists(link + ".new")


def test_prune_keeps_current_and_previous_only(tmp_path):
    venvs = tmp_path / "venvs"
    for name in ("1", "2", "3"):
        (venvs / name).mkdir(parents=True)
    legacy = tmp_path / "venv"
    legacy.mkdir()
    doomed = install.keep(str(venvs / "3"), str(venvs / "2"), str(venvs), str(legacy))
    assert doomed == [str(venvs / "1"), str(legacy)]
    # The 0.3.0 in-place virtualenv is kept while it is the rollback target.
    assert install.keep(str(venvs / "3"), str(legacy), str(venvs), str(legacy)) == [str(venvs / "1"), str(venvs / "2")]


@pytest.mark.parametrize("path, inside", [
    ("/opt/litellm/venvs/1.108.7-abc", True),
    ("/opt/litellm/venvs", False),
    ("/opt/litellm/venvs/../../etc", False),
    ("/opt/litellm-other/venvs/x", False),
])
def test_inside(path, inside):
    assert install.inside(path, "/opt/litellm/venvs") is inside
