"""The config check (litellm/files/default/check_config.py) run as Salt's check_cmd runs it: with a
LiteLLM virtualenv's Python, offline environment only, on configs the formula renders. What LiteLLM's
proxy rejects at startup in general_settings and litellm_settings fails, naming the section and key;
what the formula renders by default, and what LiteLLM itself accepts, passes.

Needs a virtualenv with the LiteLLM release the formula pins: LITELLM_FORMULA_CHECK_PYTHON=<its python>
(e.g. /opt/litellm/venv/bin/python). The formula's two callbacks are put next to each config, where
LiteLLM looks first, so the virtualenv needs nothing else."""

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from helpers import REPO

from litellm_formula import render, schema

CHECK = REPO / "litellm/files/default/check_config.py"
CHECK_PYTHON = os.environ.get("LITELLM_FORMULA_CHECK_PYTHON", "")
DEFAULTS = yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]
MODEL = {"name": "phi3-3.8b", "provider": "ollama", "model": "phi3:3.8b-mini-128k-instruct-q8_0"}
CALLBACK_FILES = {schema.LIVENESS_CALLBACK: "liveness.py", schema.WORKAROUNDS_CALLBACK: "workarounds.py",
                  schema.PROBES_CALLBACK: "probes.py"}

pytestmark = pytest.mark.skipif(
    not (CHECK_PYTHON and os.access(CHECK_PYTHON, os.X_OK)),
    reason="LiteLLM venv missing: set LITELLM_FORMULA_CHECK_PYTHON to the python of a virtualenv with "
    "the pinned litellm[proxy] (the unit layer's own virtualenv has no LiteLLM)",
)


def extra(**sections):
    return {"extra_config": sections}


# Configs the formula renders that LiteLLM starts with: (pillar beside `models`, why it must pass).
GOOD = {
    "defaults": {},
    # Redis from the service's environment (the check does not see it), password moved out of the file
    # as os.environ/LITELLM_FORMULA_SECRET_... (unset where the check runs).
    "redis_cache_secrets": extra(litellm_settings={"cache": True, "cache_params": {
        "type": "redis", "host": "os.environ/REDIS_HOST", "port": "os.environ/REDIS_PORT",
        "password": "s3cret-redis-password"}}),
    "redis_cache_from_environment": extra(litellm_settings={"cache": True}),
    # LiteLLM 1.108.7 starts with these (verified): a success_callback name it does not know is kept
    # as a string, and general_settings.max_parallel_requests is typed in ConfigGeneralSettings but
    # never validated or read. The check is as strict as the proxy, no stricter.
    "accepted_by_litellm": extra(litellm_settings={"success_callback": ["nonexistent_logger"]},
                                 general_settings={"max_parallel_requests": "lots", "no_such_setting": 1}),
}

# Rejected by LiteLLM 1.108.7's proxy at startup: (pillar, the line's start, a word of LiteLLM's reason).
BAD = {
    "unknown_callback_module": (
        extra(litellm_settings={"callbacks": ["no_such_module.handler"]}),
        "litellm_settings.callbacks", "no_such_module"),
    "unknown_callback_name": (
        extra(litellm_settings={"callbacks": ["nonexistent_logger"]}),
        "litellm_settings.callbacks", "Empty module name"),
    "unknown_success_callback_module": (
        extra(litellm_settings={"success_callback": ["no_such_module.handler"]}),
        "litellm_settings.success_callback", "no_such_module"),
    "unknown_cache_type": (
        extra(litellm_settings={"cache": True, "cache_params": {"type": "nonsense"}}),
        "litellm_settings.cache", "AttributeError"),
    # The unset password cannot be what fails: still rejected.
    "unknown_cache_type_with_secret": (
        extra(litellm_settings={"cache": True, "cache_params": {"type": "nonsense", "password": "s3cret"}}),
        "litellm_settings.cache", "AttributeError"),
    # Fails only once the router is built with it: LiteLLM reads it there.
    "request_timeout_not_a_number": (
        extra(litellm_settings={"request_timeout": "lots"}),
        "litellm_settings.request_timeout", "could not convert"),
    # Validated with LiteLLM's ConfigGeneralSettings (which the proxy applies to a few keys only).
    # Keys named like a secret (user_api_key_cache_ttl...) never reach config.yaml: the formula moves
    # their value to the environment file.
    "deny_by_default_not_a_boolean": (
        extra(general_settings={"vector_store_deny_by_default": "lots"}),
        "general_settings.vector_store_deny_by_default", "valid boolean"),
    # Validated by the `litellm` command before the app starts.
    "statement_timeout_not_a_number": (
        extra(general_settings={"database_statement_timeout": "lots"}),
        "general_settings.database_statement_timeout", "valid number"),
}

# Could not be judged offline: a warning, and the config passes. (pillar, what the warning names).
NOT_CHECKED = {
    # Its module opens a connection at import (next to the config, as LiteLLM allows).
    "callback_needs_network": (extra(litellm_settings={"callbacks": ["needs_network.handler"]}),
                               "litellm_settings.callbacks not checked: LiteLLM needs the network"),
    "cache_type_from_environment": (
        extra(litellm_settings={"cache": True, "cache_params": {"type": "os.environ/CACHE_TYPE"}}),
        "litellm_settings.cache not checked: it reads CACHE_TYPE"),
}
NEEDS_NETWORK = 'import socket\nsocket.create_connection(("192.0.2.1", 9), timeout=1)\nhandler = object()\n'


def rendered(pillar):
    settings = schema.merge_settings(DEFAULTS, {}, {"models": [MODEL], **pillar})
    assert schema.validate_settings(settings) == []
    return render.proxy_config(settings)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """{case: (exit code, stdout, stderr)} for every case, run a few at a time."""
    cases = {name: pillar for name, pillar in GOOD.items()}
    cases.update({name: case[0] for name, case in {**BAD, **NOT_CHECKED}.items()})
    cases["pillar_example"] = yaml.safe_load((REPO / "pillar.example").read_text())["litellm"]

    def run(name):
        where = tmp_path_factory.mktemp(name)
        for callback, source in CALLBACK_FILES.items():
            shutil.copy(REPO / "litellm/files/default" / source, where / f"{callback.split('.')[0]}.py")
        (where / "needs_network.py").write_text(NEEDS_NETWORK)
        path = where / "config.yaml"
        path.write_text(yaml.safe_dump(rendered(cases[name]), sort_keys=False))
        ret = subprocess.run([CHECK_PYTHON, str(CHECK), str(path)], env=dict(render.OFFLINE_ENVIRONMENT),
                             capture_output=True, text=True, timeout=300, check=False)
        return name, (ret.returncode, ret.stdout, ret.stderr)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(pool.map(run, cases))


@pytest.mark.parametrize("case", [*GOOD, "pillar_example"])
def test_what_the_formula_renders_and_litellm_starts_with_passes(verdicts, case):
    code, out, err = verdicts[case]
    assert (code, err) == (0, ""), err
    assert out.startswith("check-config: ok (")


@pytest.mark.parametrize("case", BAD)
def test_what_litellm_rejects_at_startup_fails_naming_section_and_key(verdicts, case):
    _, where, because = BAD[case]
    code, out, err = verdicts[case]
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err  # one line: LiteLLM's own output is not shown
    assert lines[0].startswith(f"check-config: {where}: LiteLLM "), err
    assert because in lines[0], err


@pytest.mark.parametrize("case", NOT_CHECKED)
def test_what_cannot_be_judged_offline_passes_with_a_warning(verdicts, case):
    _, says = NOT_CHECKED[case]
    code, out, err = verdicts[case]
    assert code == 0 and out.startswith("check-config: ok ("), err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"check-config: warning: {says}"), err


def test_unreadable_or_secret_bearing_configs_fail_before_litellm_loads(tmp_path):
    cases = {
        "not yaml: [": "cannot read",
        "[]": "not a mapping",
        "model_list: []": "model_list is empty",
        yaml.safe_dump({**rendered({}), "general_settings": {"master_key": "sk-plain-0123456789"}}):
            "general_settings.master_key must be os.environ/",
    }
    for text, says in cases.items():
        path = tmp_path / "config.yaml"
        path.write_text(text)
        ret = subprocess.run([CHECK_PYTHON, str(CHECK), str(path)], env=dict(render.OFFLINE_ENVIRONMENT),
                             capture_output=True, text=True, timeout=60, check=False)
        assert ret.returncode == 1 and ret.stderr.startswith("check-config: ") and says in ret.stderr, ret.stderr


def test_the_check_is_standalone():
    """stdlib, yaml and LiteLLM (imported inside, once the cheap checks passed): nothing of the formula's."""
    imports = {line.split()[1].split(".")[0] for line in CHECK.read_text().splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"asyncio", "contextlib", "errno", "os", "signal", "socket", "subprocess", "sys",
                       "tempfile", "yaml"}, imports
