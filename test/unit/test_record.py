"""Unit tests of the deployment record, the interpreter check and the values Python computes for the
states (litellm_formula.record, schema, render)."""

import importlib.util
import json
import re

import pytest
import yaml
from helpers import REPO

from litellm_formula import record, render, schema

DEFAULTS = yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]
KEY = "sk-unit-" + "0123456789abcdef"
PILLAR = {"master_key": KEY, "models": [{"name": "phi3", "model": "phi3:3.8b"}],
          "backends": ["http://192.0.2.7:11434", "http://192.0.2.8:11434"]}


def built(pillar=None, root="litellm"):
    pillar = pillar or PILLAR
    return record.build(schema.merge_settings(DEFAULTS, {}, pillar), pillar, 4, 8192, root)


def test_the_record_says_what_runs_and_holds_no_secret():
    deployed = built()
    assert deployed["url"] == "http://127.0.0.1:4000" and deployed["unit"] == "litellm.service"
    assert deployed["models"] == {"phi3": {"tag": "phi3:3.8b",
                                           "backends": ["http://192.0.2.7:11434", "http://192.0.2.8:11434"]}}
    assert deployed["master_key"] == {"source": "pillar", "file": "/etc/litellm/master_key.env", "sdb_uri": None}
    assert deployed["num_workers"] == 4 and deployed["formula_root"] == "litellm"
    assert KEY not in record.text(deployed)
    assert json.loads(record.text(deployed)) == deployed
    assert record.text(built()) == record.text(deployed)  # stable: a re-apply rewrites nothing


def test_an_sdb_key_is_recorded_by_its_uri_for_rotation_without_pillar():
    deployed = built({**PILLAR, "master_key": "sdb://vault/litellm"})
    assert deployed["master_key"]["source"] == "sdb" and deployed["master_key"]["sdb_uri"] == "sdb://vault/litellm"


def test_drift_follows_pillar_including_a_new_key_but_not_its_value():
    deployed = built()
    assert record.pillar_drift(deployed, PILLAR)["pillar"] == "matches"
    assert record.pillar_drift(deployed, {**PILLAR, "bind_port": 4001})["pillar"] == "differs"
    assert record.pillar_drift(deployed, {**PILLAR, "master_key": KEY + "x"})["pillar"] == "differs"
    assert record.pillar_drift(deployed, {})["pillar"] == "unknown"
    assert KEY not in json.dumps(record._without_key({**PILLAR, "lookup": {"master_key": KEY}}))


def test_choose_and_load(tmp_path):
    assert record.choose(["litellm"]) == "litellm"
    assert record.choose(["a", "b"], "b") == "b"
    with pytest.raises(ValueError, match="several proxies"):
        record.choose(["a", "b"])
    with pytest.raises(ValueError, match="apply the formula"):
        record.choose([])
    (tmp_path / "litellm.json").write_text(record.text(built()))
    (tmp_path / ".tmp.json").write_text("{}")
    assert record.records(str(tmp_path)) == ["litellm"]
    assert record.load(record.record_path("litellm", str(tmp_path)))["bind_port"] == 4000
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        record.load(str(tmp_path / "broken.json"))
    with pytest.raises(ValueError, match="no deployment record"):
        record.load(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("version, ok", [("3.9", False), ("3.6", False), ("3.10", True), ("3.11", True),
                                         ("3.13", True), ("unknown", False)])
def test_an_interpreter_older_than_litellm_needs_is_refused_by_name(version, ok):
    problem = schema.python_problem("/usr/bin/python3", version)
    assert (problem is None) == ok
    if not ok:
        assert problem.startswith("litellm:python: /usr/bin/python3")


@pytest.mark.parametrize("python", ["/usr/bin/python3; touch /tmp/x", "python3", "/usr/bin/python 3", "/opt/$(id)/py"])
def test_the_interpreter_path_is_a_plain_path(python):
    errors = schema.validate_settings(schema.merge_settings(DEFAULTS, {}, {**PILLAR, "python": python}))
    assert any(error.startswith("litellm:python:") for error in errors), errors


@pytest.mark.parametrize("family", ["Debian", "RedHat"])
def test_each_os_family_gives_valid_settings_and_a_new_enough_python(family):
    values = yaml.safe_load((REPO / f"litellm/parameters/os_family/{family}.yaml").read_text())["values"]
    merged = schema.merge_settings(DEFAULTS, values, PILLAR)
    assert schema.validate_settings(merged) == []
    assert merged["pkgs"]
    if family == "RedHat":  # python3 there is 3.9 (RHEL 9) or 3.6 (RHEL 8)
        assert merged["python"] == "/usr/bin/python3.11"


def test_the_values_the_states_place_are_computed_here():
    merged = schema.merge_settings(DEFAULTS, {}, {**PILLAR, "state_dir": "/var/lib/llm/proxy",
                                                  "install_dir": "/opt/my llm"})
    derived = render.derived(merged, 2, 4096)
    assert derived["state_directory"] == "llm/proxy"
    assert derived["pip_requirements"][0] == "litellm[proxy]==1.108.7"
    assert [name for name, _ in render.pip_pins(merged)] == ["litellm", "prisma", "httptools", "prometheus-client"]
    # The config check runs with the service's offline variables, its paths quoted.
    assert derived["check_config_cmd"] == ("env -i LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY_DISABLED=true "
                                           "'/opt/my llm/current/bin/python' '/opt/my llm/libexec/check-config.py'")
    env = render.service_environment(merged)
    assert all(env[name] == value for name, value in render.OFFLINE_ENVIRONMENT.items())


def test_without_its_package_the_module_does_not_load_and_says_why(tmp_path):
    # A minion where _modules was synced but _utils was not.
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "litellm.py").write_text((REPO / "_modules/litellm.py").read_text())
    alone = load_path(tmp_path / "modules" / "litellm.py", "litellm_without_package")
    loaded, reason = alone.__virtual__()
    assert loaded is False and "saltutil.sync_all" in reason
    # Synced: it loads.
    (tmp_path / "utils").symlink_to(REPO / "_utils")
    assert load_path(tmp_path / "modules" / "litellm.py", "litellm_with_package").__virtual__() == "litellm"


def load_path(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_test_wheel_cache_holds_exactly_the_pins_the_formula_installs():
    # requirements-litellm.txt feeds scripts/deps.sh's wheel cache; the pins themselves come from defaults.yaml.
    lines = [line for line in (REPO / "requirements-litellm.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines == render.pip_requirements(DEFAULTS)


def test_no_key_printed_in_the_docs_or_examples_is_accepted():
    # An operator who copies a key from the documentation must not ship a publicly known key.
    texts = [REPO / "README.md", REPO / "pillar.example", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
    printed = {key for path in texts for key in re.findall(r"sk-[A-Za-z0-9_.\-]+", path.read_text())}
    for key in printed:
        assert schema.master_key_problem(key.rstrip(".")) is not None, key
