"""The formula through Salt's loaders, in process: settings and validation as the minion sees them,
every SLS rendering into well-named states, the module's manual (sys.doc), test-mode states."""

import json
import pathlib
import re
import sys

import pytest
from helpers import REPO
from salt.exceptions import CommandExecutionError

from litellm_formula import keys

KEY = "sk-functional-" + "0123456789abcdef"
MODEL = {"name": "phi3-3.8b", "provider": "ollama", "model": "phi3:3.8b-mini-128k-instruct-q8_0"}
GOOD = {"master_key": KEY, "models": [MODEL], "backends": ["http://127.0.0.1:11434"]}
SLS = ["litellm", "litellm.clean"] + [
    f"litellm.{path.parent.name}" + ("" if path.stem == "init" else f".{path.stem}")
    for path in sorted((REPO / "litellm").glob("*/*.sls"))
]


def test_settings_merge_defaults_and_pillar_without_the_key(loaders, set_pillar):
    set_pillar({**GOOD, "bind_port": 4100, "lookup": {"install_dir": "/opt/litellm-llm"}})
    settings = loaders.modules.litellm.settings()
    assert settings["bind_port"] == 4100
    assert settings["install_dir"] == "/opt/litellm-llm"
    assert settings["paths"]["venv"] == "/opt/litellm-llm/current"
    assert settings["install"]["venv"].startswith("/opt/litellm-llm/venvs/1.108.7-")
    assert settings["config_dir"] == "/etc/litellm"  # empty in defaults: named after the service
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


def test_first_apply_puts_the_fork_safety_pth_where_the_new_venv_will_look(loaders, set_pillar, install_dir):
    set_pillar({**GOOD, "install_dir": str(install_dir)})
    rendered = loaders.modules.state.show_sls("litellm.package.install")
    venv = loaders.modules.litellm.install_plan()["venv"]
    assert {"name": venv} in rendered["litellm-package-install-venv-built"]["litellm"]
    version = "%d.%d" % sys.version_info[:2]  # the test venv runs on /usr/bin/python3, as the formula does
    site = f"{venv}/lib/python{version}/site-packages"
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
    assert len(docs) == 23, sorted(docs)
    for name, doc in docs.items():
        assert doc and "CLI Example:" in doc and "salt" in doc.split("CLI Example:")[1], name
    state_docs = loaders.modules.sys.state_doc("litellm")
    assert "litellm.healthy" in state_docs
    for name, doc in state_docs.items():
        if name != "litellm":  # the module's own docstring
            assert doc and f"{name}:" in doc, f"{name}: no SLS example in its docstring"


def test_the_unit_carries_the_hardening_and_no_secret(loaders, set_pillar, tmp_path):
    # Values off the defaults: the unit follows the settings (issue 14, item 6).
    set_pillar({**GOOD, "backends": ["http://192.0.2.7:11434", "http://ollama.example:11434"],
                "ip_address_allow": ["10.0.0.0/8"], "startup_timeout": 200, "shutdown_timeout": 400,
                "max_connections": 1000, "bind_port": 4100})
    rendered = {}
    for name in ("litellm.service", "litellm.socket"):
        dest = tmp_path / name
        loaders.modules.cp.get_template(f"salt://litellm/files/default/{name}.jinja", str(dest),
                                        template="jinja", tplroot="litellm")
        rendered[name] = dest.read_text()
    unit, socket_unit = rendered["litellm.service"], rendered["litellm.socket"]
    for directive in ("NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n",
                      "SystemCallFilter=@system-service", "IPAddressDeny=any",
                      "IPAddressAllow=localhost 192.0.2.7 10.0.0.0/8\n", "EnvironmentFile=/etc/litellm/master_key.env",
                      "TimeoutStopSec=415\n", "TimeoutStartSec=200\n", "LimitNOFILE=3024\n",
                      "Requires=litellm.socket\n", "ExecStart=/opt/litellm/current/bin/litellm "):
        assert directive in unit
    for directive in ("ListenStream=0.0.0.0:4100\n", "Backlog=1000\n", "Accept=no\n",
                      "IPAddressAllow=localhost 10.0.0.0/8\n"):  # clients only: no backend address
        assert directive in socket_unit
    assert KEY not in unit + socket_unit


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


def test_the_key_file_is_written_as_rotation_writes_it_and_only_once(loaders, set_pillar, config_dir):
    # Rotation (sdb mode) rewrites the file itself; a byte of difference would make the next apply
    # "change" it and restart the proxy.
    set_pillar({**GOOD, "config_dir": str(config_dir)})
    dest = config_dir / "master_key.env"
    predicted = loaders.modules.litellm.write_master_key(test=True)
    assert predicted == {"changed": None, "file": str(dest), "old": None, "new": keys.fingerprint(KEY)}
    assert not dest.exists()  # test mode wrote nothing
    first = loaders.states.litellm.master_key_managed(name=str(dest))
    assert first.result is True and first.changes["master_key"]["new"] == keys.fingerprint(KEY)
    assert dest.read_text() == keys.master_key_file_text(KEY)
    assert dest.stat().st_mode & 0o777 == 0o600
    again = loaders.states.litellm.master_key_managed(name=str(dest))
    assert again.result is True and again.changes == {}
    # Right text, wrong mode: still a change, and the file ends root-only.
    dest.chmod(0o644)
    assert loaders.modules.litellm.write_master_key(test=True)["changed"] is None
    fixed = loaders.states.litellm.master_key_managed(name=str(dest))
    assert fixed.changes and dest.stat().st_mode & 0o777 == 0o600
    assert KEY not in repr(first) + repr(again) + repr(fixed)


def test_a_key_is_written_nowhere_but_the_formulas_key_file(loaders, set_pillar, config_dir):
    set_pillar({**GOOD, "config_dir": str(config_dir)})
    elsewhere = config_dir / "not-the-key-file"
    ret = loaders.states.litellm.master_key_managed(name=str(elsewhere))
    assert ret.result is False and "is not the formula's key file" in ret.comment
    assert not elsewhere.exists()


def test_a_generated_key_goes_only_to_the_formulas_key_file_and_is_kept(loaders, set_pillar, config_dir):
    set_pillar({**{k: v for k, v in GOOD.items() if k != "master_key"}, "master_key_source": "generate",
                "config_dir": str(config_dir)})
    other = config_dir / "someone-elses-file"
    other.write_text("not a key\n")
    ret = loaders.states.litellm.master_key_generated(name=str(other))
    assert ret.result is False and "is not the formula's key file" in ret.comment
    assert other.read_text() == "not a key\n"
    dest = config_dir / "master_key.env"
    made = loaders.states.litellm.master_key_generated(name=str(dest))
    assert made.result is True and made.changes["master_key"] == "generated"
    key = keys.read_env_file_value(str(dest), "LITELLM_MASTER_KEY")
    kept = loaders.states.litellm.master_key_generated(name=str(dest))
    assert kept.changes == {} and keys.read_env_file_value(str(dest), "LITELLM_MASTER_KEY") == key
    assert key not in repr(made) + repr(kept)


def test_the_key_may_come_from_lookup(loaders, set_pillar, config_dir):
    set_pillar({**{k: v for k, v in GOOD.items() if k != "master_key"}, "lookup": {"master_key": KEY},
                "config_dir": str(config_dir)})
    dest = config_dir / "master_key.env"
    assert loaders.states.litellm.master_key_managed(name=str(dest)).result is True
    assert dest.read_text() == keys.master_key_file_text(KEY)


def test_a_weak_key_is_never_written(loaders, set_pillar, config_dir):
    set_pillar({**GOOD, "master_key": "sk-1234", "config_dir": str(config_dir)})
    dest = config_dir / "master_key.env"
    ret = loaders.states.litellm.master_key_managed(name=str(dest))
    assert ret.result is False and "litellm:master_key" in ret.comment
    assert not dest.exists()


def test_an_sdb_uri_that_does_not_resolve_is_refused_not_written(loaders, set_pillar, config_dir):
    # sdb.get hands back the URI itself when the minion has no such profile.
    set_pillar({**GOOD, "master_key": "sdb://no_such_profile/litellm", "config_dir": str(config_dir)})
    with pytest.raises(CommandExecutionError, match="did not resolve"):
        loaders.modules.litellm.validate_pillar()
    ret = loaders.states.litellm.master_key_managed(name=str(config_dir / "master_key.env"))
    assert ret.result is False and "did not resolve" in ret.comment
    assert not (config_dir / "master_key.env").exists()


def test_an_interpreter_older_than_litellm_needs_fails_the_render(loaders, set_pillar, tmp_path, install_dir):
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\necho 3.9\n")  # answers the formula's version question as Python 3.9 would
    old.chmod(0o755)
    set_pillar({**GOOD, "python": str(old), "install_dir": str(install_dir)})
    rendered = loaders.modules.state.show_sls("litellm.package.install")
    assert isinstance(rendered, list), rendered
    assert f"litellm:python: {old} is Python 3.9" in "\n".join(rendered)


def test_the_virtualenv_states_under_test_mode_create_nothing(loaders, set_pillar, install_dir):
    set_pillar({**GOOD, "install_dir": str(install_dir)})
    loaders.opts["test"] = True
    plan = loaders.modules.litellm.install_plan()
    built = loaders.states.litellm.venv_built(name=plan["venv"])
    assert built.result is None and built.changes, built
    switched = loaders.states.litellm.venv_switched(name=f"{install_dir}/current")
    assert switched.result is None and switched.changes["current"]["new"] == plan["venv"], switched
    assert not pathlib.Path(plan["venv"]).exists() and not (install_dir / "current").exists()


def test_the_public_surface_is_exactly_the_functions_meant_to_be_called(loaders):
    public = {name.split(".", 1)[1] for name in loaders.modules.sys.list_functions("litellm")}
    assert public == {
        "settings", "validate_pillar", "render_config", "render_environment", "models", "install_plan",
        "build_venv", "switch_venv", "roll_back_venv", "prune_venvs", "write_master_key", "deployment",
        "proxy_status", "journal_tail", "health", "version",
        "master_key_fingerprint", "master_key_age", "rotate_master_key", "ensure_generated_master_key",
        "owned", "record_ownership", "write_secret_file",
    }
    for function in ("health", "settings", "rotate_master_key", "proxy_status", "journal_tail", "version"):
        assert "tplroot" not in loaders.modules.sys.argspec(f"litellm.{function}")[f"litellm.{function}"]["args"]


def test_served_nested_under_another_name_it_renders_the_same_states(loaders, set_pillar):
    set_pillar(GOOD)
    plain = loaders.modules.state.show_sls("litellm")
    nested = loaders.modules.state.show_sls("formulas.llmproxy")
    assert isinstance(nested, dict), nested
    renamed = {state_id.replace("formulas-llmproxy-", "litellm-", 1) for state_id in nested}
    assert renamed == set(plain)
    unit = nested["formulas-llmproxy-service-unit-file-managed"]["file"]
    assert {"source": "salt://formulas/llmproxy/files/default/litellm.service.jinja"} in unit
    managed = nested["formulas-llmproxy-service-record-file-managed"]["file"]
    record = json.loads(next(item["contents"] for item in managed if "contents" in item))
    assert record["formula_root"] == "formulas/llmproxy"


def test_operations_read_the_deployment_not_pillar(loaders, set_pillar, record_dir):
    # What an apply with port 4100 recorded; then pillar moves to 4200 without an apply.
    set_pillar({**GOOD, "bind_port": 4100})
    text = loaders.modules.litellm.settings()["files"]["record"]
    (record_dir / "litellm.json").write_text(text)
    try:
        assert loaders.modules.litellm.deployment()["pillar"] == "matches"
        set_pillar({**GOOD, "bind_port": 4200})
        deployed = loaders.modules.litellm.deployment()
        assert deployed["bind_port"] == 4100 and deployed["pillar"] == "differs"
        report = loaders.modules.litellm.health(timeout=1)
        assert report["proxy"]["url"] == "http://127.0.0.1:4100"
        assert report["pillar"] == "differs" and "an apply is due" in report["summary"]
        assert loaders.modules.litellm.settings()["bind_port"] == 4200  # the desired state reads pillar
    finally:
        (record_dir / "litellm.json").unlink()


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


SECRETS = ["env-s3cret-1", "extra-s3cret-2", "pip-s3cret-3"]
WITH_SECRETS = {**GOOD, "environment": {"VENDOR_API_TOKEN": SECRETS[0], "HTTP_TIMEOUT": "30"},
                "extra_config": {"litellm_settings": {"cache_params": {"password": SECRETS[1], "ttl": 60}}},
                "pip": {"index_url": f"https://pipuser:{SECRETS[2]}@pypi.example/simple"}}


def test_secrets_beyond_the_key_appear_in_no_render_return_or_diff(loaders, set_pillar, config_dir, install_dir):
    # The test's config_dir exists already: adopted, as an operator would.
    set_pillar({**WITH_SECRETS, "config_dir": str(config_dir), "install_dir": str(install_dir),
                "adopt": ["config_dir"]})
    shown = repr(loaders.modules.state.show_sls("litellm")) + repr(loaders.modules.litellm.settings()) + \
        loaders.modules.litellm.render_environment() + loaders.modules.litellm.render_config()
    assert not [secret for secret in SECRETS if secret in shown]
    assert "os.environ/LITELLM_FORMULA_SECRET_LITELLM_SETTINGS_CACHE_PARAMS_PASSWORD" in shown
    env_file = config_dir / "litellm.env"
    made = loaders.states.litellm.secret_file_managed(name=str(env_file), content="environment")
    assert made.result is True and made.changes["values"] == "hidden"
    assert {"VENDOR_API_TOKEN", "HTTP_TIMEOUT", "LITELLM_FORMULA_SECRET_LITELLM_SETTINGS_CACHE_PARAMS_PASSWORD"} <= \
        set(made.changes["changed"])
    text = env_file.read_text()
    assert f'VENDOR_API_TOKEN="{SECRETS[0]}"' in text and SECRETS[1] in text
    assert env_file.stat().st_mode & 0o777 == 0o600 and env_file.stat().st_uid == 0
    again = loaders.states.litellm.secret_file_managed(name=str(env_file), content="environment")
    assert again.result is True and again.changes == {}
    pip_conf = install_dir / "pip.conf"
    pip = loaders.states.litellm.secret_file_managed(name=str(pip_conf), content="pip_config")
    assert pip.result is True and f"index-url = https://pipuser:{SECRETS[2]}@pypi.example/simple" in \
        pip_conf.read_text()
    assert pip_conf.stat().st_mode & 0o777 == 0o600
    assert not [secret for secret in SECRETS if secret in repr(made) + repr(again) + repr(pip)]


def test_a_secret_file_is_written_only_at_the_formulas_path(loaders, set_pillar, config_dir):
    set_pillar({**WITH_SECRETS, "config_dir": str(config_dir), "adopt": ["config_dir"]})
    elsewhere = config_dir / "elsewhere.env"
    ret = loaders.states.litellm.secret_file_managed(name=str(elsewhere), content="environment")
    assert ret.result is False and "is not the formula's environment file" in ret.comment
    assert not elsewhere.exists()


def test_an_environment_value_from_an_sdb_uri_that_does_not_resolve_is_refused(loaders, set_pillar, config_dir):
    set_pillar({**GOOD, "config_dir": str(config_dir), "adopt": ["config_dir"],
                "environment": {"VENDOR_API_TOKEN": "sdb://nowhere/token"}})
    with pytest.raises(CommandExecutionError, match="litellm:environment:VENDOR_API_TOKEN: sdb://nowhere/token did "
                                                    "not resolve"):
        loaders.modules.litellm.validate_pillar()
    ret = loaders.states.litellm.secret_file_managed(name=str(config_dir / "litellm.env"), content="environment")
    assert ret.result is False and not (config_dir / "litellm.env").exists()


def _own_service(set_pillar, host_root, name):
    config, install = host_root / "etc" / name, host_root / "opt" / name
    set_pillar({**GOOD, "service_name": name, "service_user": name, "service_group": name,
                "config_dir": str(config), "install_dir": str(install)})
    return config, install


def test_the_ledger_is_claimed_once_confirmed_and_pruned(loaders, set_pillar, host_root, record_dir):
    name = "litellm-ledger"
    config, install = _own_service(set_pillar, host_root, name)
    ledger = record_dir / f"{name}.owned"
    first = loaders.states.litellm.ownership_recorded(name=name)
    assert first.result is True and "added" in first.changes, first
    entries = json.loads(ledger.read_text())["owned"]
    assert {(e["kind"], e["name"], e["how"]) for e in entries} == {
        ("user", name, "created"), ("group", name, "created"),
        ("unit", f"/etc/systemd/system/{name}.service", "created"),
        ("unit", f"/etc/systemd/system/{name}.socket", "created"),
        ("dir", str(install), "created"), ("dir", str(config), "created"), ("dir", f"/var/lib/{name}", "created")}
    assert ledger.stat().st_mode & 0o777 == 0o600
    assert loaders.states.litellm.ownership_recorded(name=name).changes == {}
    # Last in an apply that created only the config directory: the rest leaves the ledger.
    config.mkdir()
    confirmed = loaders.states.litellm.ownership_recorded(name=name, mode="confirm")
    assert confirmed.result is True and "dropped" in confirmed.changes
    assert [e["name"] for e in json.loads(ledger.read_text())["owned"]] == [str(config)]
    assert loaders.states.litellm.ownership_recorded(name=name, mode="confirm").changes == {}
    # A clean that removed it: the ledger goes.
    config.rmdir()
    cleaned = loaders.states.litellm.ownership_recorded(name=name, mode="clean", entries=[])
    assert cleaned.result is True and cleaned.changes and not ledger.exists()


def test_the_ledger_under_test_mode_is_predicted_not_written(loaders, set_pillar, host_root, record_dir):
    name = "litellm-predicted"
    _own_service(set_pillar, host_root, name)
    loaders.opts["test"] = True
    predicted = loaders.states.litellm.ownership_recorded(name=name)
    assert predicted.result is None and "Would record" in predicted.comment and "added" in predicted.changes
    assert not (record_dir / f"{name}.owned").exists()


def test_a_takeover_fails_the_ledger_state_and_writes_nothing(loaders, set_pillar, host_root, record_dir):
    name = "litellm-taken"
    config, _ = _own_service(set_pillar, host_root, name)
    config.mkdir()  # made by someone else
    refused = loaders.states.litellm.ownership_recorded(name=name)
    assert refused.result is False and f"litellm:config_dir: the directory {config} exists and was not created" \
        in refused.comment
    assert not (record_dir / f"{name}.owned").exists()
    with pytest.raises(CommandExecutionError, match="litellm:config_dir"):
        loaders.modules.litellm.validate_pillar()
    assert loaders.modules.litellm.owned()["problems"]


def test_nothing_waits_for_the_states_that_run_last(loaders, set_pillar):
    # A requisite on an SLS holding an `order: last` state makes Salt run that state first: the
    # ledger's confirmation would then drop everything before it is created. (Salt 3008 also counts
    # what a required SLS includes: the confirmation is included by litellm/init.sls alone, which
    # the first apply's run order checks for real in the container.)
    set_pillar(GOOD)
    for sls in ("litellm", "litellm.clean"):
        rendered = loaders.modules.state.show_sls(sls)
        args = {state_id: [arg for key, value in body.items() if not key.startswith("__") for arg in value
                           if isinstance(arg, dict)] for state_id, body in rendered.items()}
        last = {rendered[state_id]["__sls__"] for state_id, items in args.items() if {"order": "last"} in items}
        assert last, sls
        assert sls != "litellm" or last == {"litellm.ownership.confirm"}, last
        for state_id, items in args.items():
            for item in items:
                for requisite in ("require", "watch", "onchanges"):
                    for target in item.get(requisite, []):
                        assert target.get("sls") not in last, (sls, state_id, target)
