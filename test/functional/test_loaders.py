"""The formula through Salt's loaders, in process: settings and validation as the minion sees them,
every SLS rendering into well-named states, the module's manual (sys.doc), test-mode states."""

import re
import sys

import pytest
from helpers import REPO, load_module
from salt.exceptions import CommandExecutionError

KEY = "sk-functional-" + "0123456789abcdef"
MODEL = {"name": "phi3-3.8b", "provider": "ollama", "model": "phi3:3.8b-mini-128k-instruct-q8_0"}
GOOD = {"master_key": KEY, "models": [MODEL], "backends": ["http://127.0.0.1:11434"]}
SLS = ["litellm", "litellm.clean"] + [
    f"litellm.{path.parent.name}" + ("" if path.stem == "init" else f".{path.stem}")
    for path in sorted((REPO / "litellm").glob("*/*.sls"))
]


def test_settings_merge_defaults_and_pillar_without_the_key(loaders, set_pillar):
    set_pillar({**GOOD, "bind_port": 4100, "lookup": {"install_dir": "/opt/llm"}})
    settings = loaders.modules.litellm.settings()
    assert settings["bind_port"] == 4100
    assert settings["install_dir"] == "/opt/llm"
    assert settings["paths"]["venv"] == "/opt/llm/venv"
    assert settings["service_user"] == "litellm"
    assert "master_key" not in settings
    assert KEY not in repr(settings)


def test_validate_pillar_names_bad_keys(loaders, set_pillar):
    set_pillar({**GOOD, "bind_port": 70000, "master_key": "sk-1234"})
    with pytest.raises(CommandExecutionError) as err:
        loaders.modules.litellm.validate_pillar()
    assert "litellm:bind_port: got 70000" in str(err.value)
    assert "litellm:master_key" in str(err.value)


@pytest.mark.parametrize("sls", SLS)
def test_every_sls_renders_with_state_ids_that_say_what_they_manage(loaders, set_pillar, sls):
    set_pillar(GOOD)
    rendered = loaders.modules.state.show_sls(sls)
    assert isinstance(rendered, dict), rendered
    for state_id, body in rendered.items():
        sls_path = body["__sls__"].split(".")
        assert state_id.startswith("-".join(sls_path[:3]) + "-"), (state_id, body["__sls__"])
        assert re.match(r"^[a-z0-9-]+$", state_id)
    assert KEY not in repr(rendered)


def test_first_apply_puts_the_fork_safety_pth_where_the_new_venv_will_look(loaders, set_pillar, tmp_path):
    set_pillar({**GOOD, "install_dir": str(tmp_path / "opt")})
    rendered = loaders.modules.state.show_sls("litellm.package.install")
    assert "litellm-package-install-venv-created" in rendered  # the virtualenv does not exist yet
    version = "%d.%d" % sys.version_info[:2]  # the test venv runs on /usr/bin/python3, as the formula does
    site = f"{tmp_path}/opt/venv/lib/python{version}/site-packages"
    # The .pth, and the callbacks importable by the names config.yaml gives them.
    for state_id, filename in (("fork-safety-pth", "litellm_formula_fork_safety.pth"),
                               ("liveness-module", "litellm_formula_liveness.py"),
                               ("workarounds-module", "litellm_formula_workarounds.py")):
        assert {"name": f"{site}/{filename}"} in rendered[f"litellm-package-install-{state_id}-managed"]["file"]


def test_a_bad_pillar_fails_the_render_naming_the_key(loaders, set_pillar):
    set_pillar({**GOOD, "backends": ["ftp://h:11434"]})
    rendered = loaders.modules.state.show_sls("litellm")
    assert isinstance(rendered, list)
    assert "litellm:backends:0" in "\n".join(rendered)


def test_every_public_function_is_documented_with_a_cli_example(loaders):
    docs = loaders.modules.sys.doc("litellm")
    assert len(docs) >= 7
    for name, doc in docs.items():
        assert doc and "CLI Example:" in doc and "salt" in doc.split("CLI Example:")[1], name
    state_docs = loaders.modules.sys.state_doc("litellm")
    assert "litellm.healthy" in state_docs
    for name, doc in state_docs.items():
        if name != "litellm":  # the module's own docstring
            assert doc and f"{name}:" in doc, f"{name}: no SLS example in its docstring"


def test_the_unit_carries_the_hardening_and_no_secret(loaders, set_pillar, tmp_path):
    set_pillar({**GOOD, "backends": ["http://192.0.2.7:11434", "http://ollama.example:11434"],
                "ip_address_allow": ["10.0.0.0/8"]})
    dest = tmp_path / "litellm.service"
    loaders.modules.cp.get_template("salt://litellm/files/default/litellm.service.jinja", str(dest),
                                    template="jinja", tplroot="litellm")
    unit = dest.read_text()
    for directive in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n",
                      "SystemCallFilter=@system-service", "IPAddressDeny=any",
                      "IPAddressAllow=localhost 192.0.2.7 10.0.0.0/8\n", "EnvironmentFile=/etc/litellm/master_key.env",
                      "TimeoutStopSec=45\n"):
        assert directive in unit
    assert KEY not in unit


def test_healthy_under_test_mode_waits_for_nothing(loaders, set_pillar, minion_opts):
    set_pillar(GOOD)
    loaders.opts["test"] = True
    try:
        ret = loaders.states.litellm.healthy(name="litellm", timeout=300)
    finally:
        loaders.opts["test"] = False
    assert ret.result is None
    assert ret.changes == {}
    assert "Would wait" in ret.comment


def test_master_key_template_matches_what_rotation_writes(loaders, set_pillar, tmp_path):
    # Rotation (sdb mode) rewrites the file itself; a byte of difference would make the next apply
    # "change" it and restart the proxy.
    set_pillar(GOOD)
    dest = tmp_path / "master_key.env"
    loaders.modules.cp.get_template("salt://litellm/files/default/master_key.env.jinja", str(dest),
                                    template="jinja", tplroot="litellm")
    module = load_module("_modules/litellm.py", "litellm_for_functional")
    assert dest.read_text() == module.master_key_file_text(KEY)


def test_generate_mode_renders_the_generating_state(loaders, set_pillar):
    set_pillar({k: v for k, v in GOOD.items() if k != "master_key"} | {"master_key_source": "generate"})
    rendered = loaders.modules.state.show_sls("litellm.config.environ")
    assert isinstance(rendered, dict), rendered
    assert "master_key_generated" in rendered["litellm-config-environ-master-key-generated"]["litellm"]
    assert "litellm-config-environ-master-key-file-managed" not in rendered


def test_ip_firewall_can_be_turned_off(loaders, set_pillar, tmp_path):
    set_pillar({**GOOD, "ip_address_allow": ["any"]})
    dest = tmp_path / "litellm.service"
    loaders.modules.cp.get_template("salt://litellm/files/default/litellm.service.jinja", str(dest),
                                    template="jinja", tplroot="litellm")
    assert "IPAddress" not in dest.read_text()
