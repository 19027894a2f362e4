"""Side-by-side virtualenvs (_utils/litellm_formula/install.py): build, switch, prune, without pip."""

import os

import pytest

from litellm_formula import install
from litellm_formula.venv import BUILT_MARKER, built_from

PINS = [["litellm", "1.108.7"]]
NAME = "1.108.7-0123456789ab"


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
    venv = str(tmp_path / "venvs" / NAME)
    run = fake_pip()
    ok, comment = install.build(venv, "/usr/bin/python3", "/l.txt", "d" * 64, PINS, "/pip.conf", run)
    assert ok, comment
    pip_argv, pip_env = run.calls[1]
    assert pip_argv[1:] == ["-m", "pip", *install.PIP_FLAGS, "-r", "/l.txt"]
    assert "--require-hashes" in pip_argv and "--no-deps" in pip_argv
    assert pip_env == {"PIP_CONFIG_FILE": "/pip.conf"}
    assert built_from(venv) == "d" * 64


def test_a_half_built_venv_is_rebuilt_and_a_failed_build_leaves_nothing(tmp_path):
    venv = tmp_path / "venvs" / NAME
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
    venv = tmp_path / NAME
    ok, comment = install.build(str(venv), "/usr/bin/python3", "/l.txt", "d" * 64, PINS, "/p",
                                fake_pip(installs=("litellm-1.108.6",)))
    assert not ok and "litellm==1.108.7" in comment and not venv.exists()
    assert not (venv / BUILT_MARKER).exists()


def test_point_swaps_a_link_in_one_rename(tmp_path):
    link = str(tmp_path / "current")
    install.point(link, str(tmp_path / "a"))
    install.point(link, str(tmp_path / "b"))
    assert os.readlink(link) == str(tmp_path / "b") and not os.path.lexists(link + ".new")


def _built(path):
    (path / "bin").mkdir(parents=True)
    (path / BUILT_MARKER).write_text("d" * 64 + "\n")
    return path


def test_prune_keeps_current_and_previous_and_removes_only_what_the_formula_built(tmp_path):
    venvs = tmp_path / "venvs"
    one, two, three = (_built(venvs / f"1.108.{n}-0123456789ab") for n in (5, 6, 7))
    (venvs / "1.108.4-0123456789ab" / "bin").mkdir(parents=True)  # cut build (no marker): left for its rebuild
    (venvs / "notes").mkdir()  # not a name the formula gives: never removed
    legacy = tmp_path / "venv"
    legacy.mkdir()
    (legacy / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert install.keep(str(three), str(two), str(venvs), str(legacy)) == [str(one), str(legacy)]
    # The 0.3.0 in-place virtualenv is kept while it is the rollback target.
    assert install.keep(str(three), str(legacy), str(venvs), str(legacy)) == [str(one), str(two)]


def test_links_never_lead_prune_or_build_elsewhere(tmp_path):
    elsewhere = _built(tmp_path / "precious" / "1.108.5-0123456789ab").parent
    install_dir = tmp_path / "opt"
    install_dir.mkdir()
    (install_dir / "venvs").symlink_to(elsewhere)  # venvs/ itself a link
    assert install.keep(None, None, str(install_dir / "venvs"), str(install_dir / "venv")) == []
    ok, comment = install.build(str(install_dir / "venvs" / NAME), "/usr/bin/python3", "/l", "d" * 64, PINS, "/p",
                                fake_pip())
    assert not ok and "refusing" in comment and (elsewhere / "1.108.5-0123456789ab").exists()
    venvs = tmp_path / "opt2" / "venvs"
    venvs.mkdir(parents=True)
    (venvs / "1.108.5-0123456789ab").symlink_to(elsewhere / "1.108.5-0123456789ab")  # an entry a link
    assert install.keep(None, None, str(venvs), str(venvs.parent / "venv")) == []
    assert not install.is_ours(str(venvs / "1.108.5-0123456789ab"), str(venvs))


def test_build_never_removes_the_virtualenv_in_use(tmp_path):
    venv = tmp_path / "venvs" / NAME
    (venv / "bin").mkdir(parents=True)  # in use, marker lost
    ok, comment = install.build(str(venv), "/usr/bin/python3", "/l", "d" * 64, PINS, "/p", fake_pip(),
                                in_use=(str(venv), None))
    assert not ok and "in use" in comment and venv.exists()


@pytest.mark.parametrize("path, inside", [
    ("/opt/litellm/venvs/1.108.7-abc", True),
    ("/opt/litellm/venvs", False),
    ("/opt/litellm/venvs/../../etc", False),
    ("/opt/litellm-other/venvs/x", False),
])
def test_inside(path, inside):
    assert install.inside(path, "/opt/litellm/venvs") is inside


def test_the_trial_start_gets_a_throwaway_key_file_last_and_no_secret_in_its_arguments():
    settings = {"service_name": "litellm", "service_user": "litellm", "service_group": "litellm",
                "state_dir": "/var/lib/litellm"}
    where = {"env_file": "/etc/litellm/litellm.env", "master_key_file": "/etc/litellm/master_key.env",
             "config_file": "/etc/litellm/config.yaml"}
    unit, argv = install.trial_argv(settings, "/opt/litellm/venvs/" + NAME, 41000, where, ["--run_gunicorn"],
                                    "/run/litellm-trial.env")
    files = [a.split("=", 2)[2] for a in argv if a.startswith("--property=EnvironmentFile=")]
    assert unit == "litellm-trial" and files[-1] == "/run/litellm-trial.env"
    assert "--port" in argv and "41000" in argv and not any("sk-" in a for a in argv)
