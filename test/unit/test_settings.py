"""Unit tests of the execution module's pure logic: merge, schema validation, config building."""

import pathlib

import pytest
import yaml
from helpers import REPO, load_module

from litellm_formula import health, keys, render, schema, venv

DEFAULTS = yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]
MODEL = {"name": "phi3-3.8b", "provider": "ollama", "model": "phi3:3.8b-mini-128k-instruct-q8_0"}


def merged(**pillar):
    pillar.setdefault("models", [MODEL])
    return schema.merge_settings(DEFAULTS, {}, pillar)


def test_defaults_plus_a_model_are_valid():
    assert schema.validate_settings(merged()) == []


def test_pillar_example_is_valid_and_complete():
    text = (REPO / "pillar.example").read_text()
    example = yaml.safe_load(text)["litellm"]
    settings = schema.merge_settings(DEFAULTS, {}, example)
    assert schema.validate_settings(settings) == []
    assert schema.master_key_problem(example["master_key"]) is None
    # Shown, set or commented out (per-OS keys: setting them would override every OS family's value).
    declared = {field.key for field in schema.SCHEMA if ":" not in field.key}
    shown = {key for key in declared if f"\n  {key}:" in text or f"\n  # {key}:" in text}
    assert shown == declared, "pillar.example must show every pillar key"
    per_os = {key for path in (REPO / "litellm/parameters/os_family").glob("*.yaml")
              for key in yaml.safe_load(path.read_text())["values"]}
    assert per_os and not per_os & (set(example) | set(example["lookup"])), "pillar.example overrides per-OS values"


def test_every_default_is_declared_in_the_schema_and_vice_versa():
    declared = {field.key for field in schema.SCHEMA if ":" not in field.key} - {"master_key"}
    assert set(DEFAULTS) == declared
    for group in ("pip", "router", "health_check"):
        declared_sub = {f.key.split(":", 1)[1] for f in schema.SCHEMA if f.key.startswith(group + ":")}
        assert set(DEFAULTS[group]) == declared_sub


def test_merge_order_defaults_os_family_lookup_pillar():
    settings = schema.merge_settings(
        {"a": 1, "b": 1, "c": 1, "d": {"x": 1, "y": 1}},
        {"b": 2, "d": {"x": 2}},
        {"lookup": {"c": 3, "d": {"y": 3}}, "a": 4},
    )
    assert settings == {"a": 4, "b": 2, "c": 3, "d": {"x": 2, "y": 3}}


@pytest.mark.parametrize(
    ("pillar", "key"),
    [
        ({"bind_port": 0}, "litellm:bind_port"),
        ({"bind_port": "4000"}, "litellm:bind_port"),
        ({"bind_host": "proxy.example.com"}, "litellm:bind_host"),
        ({"backends": []}, "litellm:backends"),
        ({"backends": ["http://h:11434/v1"]}, "litellm:backends:0"),
        ({"models": []}, "litellm:models"),
        ({"service_user": "root"}, "litellm:service_user"),
        ({"version": "latest"}, "litellm:version"),
        ({"version": "1.82.8"}, "litellm:version"),
        ({"num_workers": 0}, "litellm:num_workers"),
        ({"num_workers": 65}, "litellm:num_workers"),
        ({"num_workers": "all"}, "litellm:num_workers"),
        ({"num_workers": True}, "litellm:num_workers"),
        ({"server": "hypercorn"}, "litellm:server"),
        ({"shutdown_timeout": -1}, "litellm:shutdown_timeout"),
        ({"shutdown_timeout": 3601}, "litellm:shutdown_timeout"),
        ({"environment": {"GRACEFUL_SHUTDOWN_TIMEOUT": "5"}}, "litellm:environment:GRACEFUL_SHUTDOWN_TIMEOUT"),
        ({"models": [{"name": "m", "model": "t", "input_cost_per_token": -1}]},
         "litellm:models:0:input_cost_per_token"),
        ({"models": [{"name": "m", "model": "t", "output_cost_per_token": "free"}]},
         "litellm:models:0:output_cost_per_token"),
        ({"router": {"routing_strategy": "random"}}, "litellm:router:routing_strategy"),
        ({"environment": {"PORT": "1"}}, "litellm:environment:PORT"),
        ({"colour": "blue"}, "litellm:colour"),
        ({"ip_address_allow": ["10.0.0.0/33"]}, "litellm:ip_address_allow"),
        ({"ip_address_allow": ["any", "10.0.0.0/8"]}, "litellm:ip_address_allow"),
    ],
)
def test_bad_values_name_the_key(pillar, key):
    errors = schema.validate_settings(merged(**pillar))
    assert errors, pillar
    assert any(error.startswith(key + ":") for error in errors), errors


@pytest.mark.parametrize("key", [None, "", "sk-1234", "short", "sk-has space in it-000", "nosk-0123456789abcdef"])
def test_bad_master_keys_are_refused_without_echoing_them(key):
    problem = schema.master_key_problem(key)
    assert problem and problem.startswith("litellm:master_key")
    if key:
        assert key not in problem


def test_secret_values_are_never_shown_in_errors():
    errors = schema.validate_settings(merged(master_key=12345678901234567))
    assert errors == ["litellm:master_key: got (secret, not shown), expected a string"]


def test_proxy_config_one_deployment_per_model_and_backend():
    settings = merged(
        backends=["http://A:11434/", "http://b:11434"],
        models=[MODEL, {"name": "small", "model": "llama3.2:1b", "backends": ["http://b:11434"], "timeout": 60}],
    )
    assert schema.validate_settings(settings) == []
    config = render.proxy_config(settings)
    ids = [d["model_info"]["id"] for d in config["model_list"]]
    assert ids == ["phi3-3.8b@a:11434", "phi3-3.8b@b:11434", "small@b:11434"]
    assert len(set(ids)) == len(ids)
    first = config["model_list"][0]
    assert first["litellm_params"] == {"model": "ollama_chat/phi3:3.8b-mini-128k-instruct-q8_0",
                                       "api_base": "http://a:11434"}
    assert config["model_list"][2]["litellm_params"]["timeout"] == 60
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert config["router_settings"]["enable_weighted_failover"] is True
    assert config["router_settings"]["num_retries"] == 0
    assert first["model_info"]["health_check_max_tokens"] == 1


def test_model_prices_are_written_only_when_set():
    # Unset: nothing in the config (LiteLLM reports 0 for Ollama and skips a per-request re-registration).
    settings = merged(models=[MODEL, {"name": "paid", "model": "t", "input_cost_per_token": 2e-7}])
    assert schema.validate_settings(settings) == []
    free, paid = (d["litellm_params"] for d in render.proxy_config(settings)["model_list"])
    assert not set(schema.MODEL_PRICE_KEYS) & set(free)
    assert (paid["input_cost_per_token"], paid["output_cost_per_token"]) == (2e-7, 0.0)


@pytest.mark.parametrize(
    ("server", "workers", "cpus", "mem_mb", "args"),
    [
        ("granian", "auto", 8, None, ["--run_granian", "--num_workers", "8"]),
        ("granian", "auto", None, None, ["--run_granian", "--num_workers", "1"]),
        ("gunicorn", "auto", 200, None, ["--run_gunicorn", "--num_workers", "64"]),
        ("gunicorn", "auto", 2, 24000, ["--run_gunicorn", "--num_workers", "2"]),
        # 4 GB of RAM: half of it holds 4 workers of 512 MB, whatever the cores.
        ("gunicorn", "auto", 16, 4096, ["--run_gunicorn", "--num_workers", "4"]),
        ("gunicorn", "auto", 16, 3000, ["--run_gunicorn", "--num_workers", "2"]),
        ("gunicorn", "auto", 16, 700, ["--run_gunicorn", "--num_workers", "1"]),
        ("uvicorn", 3, 8, 700, ["--num_workers", "3"]),  # an explicit number is the operator's call
    ],
)
def test_server_arguments(server, workers, cpus, mem_mb, args):
    settings = merged(server=server, num_workers=workers)
    assert schema.validate_settings(settings) == []
    assert render.server_args(settings, cpus, mem_mb) == args


def test_extra_config_is_merged_last():
    config = render.proxy_config(merged(extra_config={"litellm_settings": {"drop_params": True}}))
    assert config["litellm_settings"] == {"telemetry": False, "drop_params": True,
                                          "callbacks": ["litellm_formula_workarounds.workarounds",
                                                        "litellm_formula_liveness.liveness",
                                                        "litellm_formula_probes.probes"]}


def test_liveness_callback_survives_extra_callbacks_and_goes_with_health_check_off():
    ours = ["litellm_formula_workarounds.workarounds", "litellm_formula_liveness.liveness",
            "litellm_formula_probes.probes"]
    config = render.proxy_config(merged(extra_config={"litellm_settings": {"callbacks": ["prometheus"]}}))
    assert config["litellm_settings"]["callbacks"] == [*ours, "prometheus"]
    one = render.proxy_config(merged(extra_config={"litellm_settings": {"callbacks": "prometheus"}}))
    assert one["litellm_settings"]["callbacks"] == [*ours, "prometheus"]  # a single name, not its letters
    assert config["general_settings"]["background_health_checks"] is False
    assert config["router_settings"]["disable_cooldowns"] is True
    off = render.proxy_config(merged(health_check={"enabled": False}))
    assert off["litellm_settings"]["callbacks"] == [ours[0], ours[2]]


def test_environment_file_quotes_values_and_holds_no_key():
    settings = merged(master_key="sk-secret-0123456789abc", environment={"NO_PROXY": 'a "b" \\c'})
    text = render.env_file_text(render.service_environment(settings))
    assert 'NO_PROXY="a \\"b\\" \\\\c"' in text
    assert 'OLLAMA_API_BASE="http://127.0.0.1:11434"' in text
    assert 'PYTHONFAULTHANDLER="1"' in text
    assert "sk-secret" not in text


def test_stop_waits_longer_than_litellm_drains():
    # gunicorn waits shutdown_timeout + 10 s for its workers; systemd must not SIGKILL it first.
    for drain in (0, 30, 600):
        settings = merged(shutdown_timeout=drain)
        assert f'GRACEFUL_SHUTDOWN_TIMEOUT="{drain}"' in render.env_file_text(render.service_environment(settings))
        assert render.stop_timeout(settings) == drain + 15


@pytest.mark.parametrize(
    ("host", "url"),
    [("0.0.0.0", "http://127.0.0.1:4000"), ("::", "http://[::1]:4000"), ("10.1.2.3", "http://10.1.2.3:4000"),
     ("fd00::1", "http://[fd00::1]:4000")],
)
def test_proxy_base_url(host, url):
    assert render.proxy_base_url(host, 4000) == url


def test_read_env_file_value(tmp_path: pathlib.Path):
    path = tmp_path / "k.env"
    path.write_text('# c\nLITELLM_MASTER_KEY="sk-abc-0123456789xyz"\nOTHER=1\n')
    assert keys.read_env_file_value(path, "LITELLM_MASTER_KEY") == "sk-abc-0123456789xyz"
    assert keys.read_env_file_value(tmp_path / "missing", "X") is None


def test_readme_pillar_reference_is_generated_from_the_schema():
    tool = load_module("tools/pillar_reference.py", "pillar_reference")
    assert tool.reference() in (REPO / "README.md").read_text(), "run: python3 tools/pillar_reference.py --update"


@pytest.mark.parametrize(("text", "seconds"), [("30d", 2592000), ("12h", 43200), ("90m", 5400), ("45s", 45),
                                               ("2w", 1209600), (3600, 3600), ("1.5h", 5400), ("10", 10)])
def test_parse_age(text, seconds):
    assert keys.parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "30x", "-1d", "0", True, "d30"])
def test_parse_age_refuses_nonsense(text):
    with pytest.raises(ValueError):
        keys.parse_age(text)


def test_format_age():
    assert keys.format_age(3 * 86400 + 4 * 3600 + 5) == "3d 4h"
    assert keys.format_age(59) == "59s"
    assert keys.format_age(3600) == "1h"


def test_new_keys_are_valid_distinct_and_fingerprints_short():
    made = {keys.new_master_key() for _ in range(50)}
    assert len(made) == 50
    for key in made:
        assert schema.master_key_problem(key) is None
        assert len(key) >= 40
        fp = keys.fingerprint(key)
        assert len(fp) == 12 and fp not in key


def test_write_secret_file_is_atomic_and_root_only(tmp_path):
    path = tmp_path / "master_key.env"
    path.write_text("old\n")
    keys.write_secret_file(str(path), keys.master_key_file_text("sk-new-0123456789abcdef"))
    assert path.read_text().endswith("LITELLM_MASTER_KEY=sk-new-0123456789abcdef\n")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["master_key.env"]  # no temp file left


@pytest.mark.parametrize(("settings", "source"), [
    ({"master_key": "sk-abc-0123456789abcdef"}, "pillar"),
    ({"master_key": "sdb://store/key"}, "sdb"),
    ({"master_key_source": "generate"}, "generate"),
])
def test_key_source(settings, source):
    assert keys.key_source({"master_key_source": "pillar", **settings}) == source


def test_generate_mode_refuses_a_pillar_key_too():
    errors = schema.validate_settings(merged(master_key_source="generate", master_key="sk-abc-0123456789abcdef"))
    assert errors and errors[0].startswith("litellm:master_key:")
    assert "sk-abc" not in errors[0]


def _report(proxy_ok=True, backends=None, models=None):
    proxy = {"ok": proxy_ok, "problem": None if proxy_ok else "proxy at x does not answer"}
    return {"proxy": proxy, "backends": backends or {}, "models": models or {}}


def test_health_verdict_healthy_degraded_unhealthy():
    up = {"up": True, "error": None, "missing": []}
    down = {"up": False, "error": "Connection refused", "missing": []}
    full = {"m": {"backends_up": 2, "backends_total": 2}}
    half = {"m": {"backends_up": 1, "backends_total": 2}}
    none = {"m": {"backends_up": 0, "backends_total": 2}}
    assert health.health_verdict(_report(backends={"a": up, "b": up}, models=full))["status"] == "healthy"
    degraded = health.health_verdict(_report(backends={"a": up, "b": down}, models=half))
    assert degraded["status"] == "degraded" and degraded["healthy"] is True
    assert "backend b down (Connection refused)" in degraded["summary"]
    dead = health.health_verdict(_report(backends={"a": down, "b": down}, models=none))
    assert dead["status"] == "unhealthy" and dead["healthy"] is False
    assert "model m: no backend can serve it" in dead["summary"]
    assert health.health_verdict(_report(proxy_ok=False, models=full))["healthy"] is False


def test_pip_pins_drop_extras():
    settings = merged(version="1.108.7", extra_pip_packages=["prisma==0.15.0", "uvloop[x]==0.21.0"])
    assert render.pip_pins(settings) == [["litellm", "1.108.7"], ["prisma", "0.15.0"], ["uvloop", "0.21.0"]]


def test_install_check_reads_dist_info_names_and_versions(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    for entry in ("litellm-1.108.7.dist-info", "prisma-0.15.0.dist-info", "Foo_Bar-2.0.dist-info", "litellm"):
        (site / entry).mkdir(parents=True)
    installed = venv.installed_distributions(str(tmp_path))
    assert installed == {"litellm": "1.108.7", "prisma": "0.15.0", "foo_bar": "2.0"}
    assert venv.missing_pins([["litellm", "1.108.7"], ["Foo.Bar", "2.0"]], installed) == []
    assert venv.missing_pins([["litellm", "1.108.6"], ["prisma", "0.15.0"], ["absent", "1"]], installed) == [
        ["litellm", "1.108.6"], ["absent", "1"]]
    assert venv.installed_distributions(str(tmp_path / "nowhere")) == {}


def test_site_packages_found_on_disk_or_predicted_from_the_interpreter(tmp_path):
    assert venv.site_packages(str(tmp_path)) is None
    assert venv.site_packages(str(tmp_path), "3.11") == str(tmp_path / "lib/python3.11/site-packages")
    (tmp_path / "lib/python3.12/site-packages").mkdir(parents=True)
    assert venv.site_packages(str(tmp_path), "3.11") == str(tmp_path / "lib/python3.12/site-packages")


def test_extra_config_secrets_move_to_the_environment_as_references():
    extra = {"litellm_settings": {"cache": True, "cache_params": {"type": "redis", "host": "10.0.0.9", "password": "p1",
                                                                  "ttl": 60}},
             "general_settings": {"alerting": ["slack"], "slack_token": "sdb://vault/slack",
                                  "proxy_url": "http://u:p2@proxy.example:3128", "plain_url": "http://proxy.example",
                                  "ref": "os.environ/MINE"},
             "callback_settings": [{"api_key": "p3"}]}
    config, found = render.split_secrets(extra)
    p = "LITELLM_FORMULA_SECRET_"
    assert found == {f"{p}LITELLM_SETTINGS_CACHE_PARAMS_PASSWORD": "p1",
                     f"{p}GENERAL_SETTINGS_SLACK_TOKEN": "sdb://vault/slack",
                     f"{p}GENERAL_SETTINGS_PROXY_URL": "http://u:p2@proxy.example:3128",
                     f"{p}CALLBACK_SETTINGS_0_API_KEY": "p3"}
    assert config["litellm_settings"]["cache_params"] == {
        "type": "redis", "host": "10.0.0.9", "ttl": 60,
        "password": f"os.environ/{p}LITELLM_SETTINGS_CACHE_PARAMS_PASSWORD"}
    assert config["general_settings"]["plain_url"] == "http://proxy.example"
    assert config["general_settings"]["ref"] == "os.environ/MINE"
    settings = merged(extra_config=extra, environment={"VENDOR": "v1"},
                      pip={"index_url": "https://u:p4@pypi.example/simple", "extra_index_urls": ["sdb://vault/idx"]})
    assert schema.validate_settings(settings) == []
    env = render.service_environment(settings)
    assert env[f"{p}LITELLM_SETTINGS_CACHE_PARAMS_PASSWORD"] == "p1" and env["VENDOR"] == "v1"
    public = repr(render.redacted(settings)) + repr(render.proxy_config(settings))
    assert not [s for s in ("p1", "p2", "p3", "p4", "v1") if f"'{s}'" in public or f":{s}@" in public]
    assert "https://****@pypi.example/simple" in public and "sdb://vault/idx" in public


@pytest.mark.parametrize(("key", "value"), [
    ("x-api-key", "k1"), ("api-key", "k2"), ("Ocp-Apim-Subscription-Key", "k3"), ("password", 12345678),
    ("alert_to_webhook_url", "https://hooks.slack.com/services/T0/B0/XYZ"), ("slack_webhook_url", "https://h/x"),
    ("dsn", "https://abc@o1.ingest.sentry.io/1"), ("endpoint", "https://TOKEN@pypi.fury.io/acme/"),
    ("endpoint", "https://blob.example/c?sv=1&sig=abc"), ("connection_string", "AccountName=a;AccountKey=b"),
    ("passphrase", "pp"), ("anything", "sdb://vault/x"),
])
def test_secret_looking_extra_config_values_are_moved(key, value):
    config, found = render.split_secrets({"general_settings": {key: value}})
    assert list(found.values()) == [str(value)] and config["general_settings"][key].startswith("os.environ/")


@pytest.mark.parametrize(("key", "value"), [("ttl", 60), ("host", "10.0.0.9"), ("type", "redis"),
                                            ("proxy_base_url", "http://proxy.example:4000/"), ("monkey", "x"),
                                            ("cache", True), ("ref", "os.environ/MINE")])
def test_plain_extra_config_values_stay(key, value):
    assert render.split_secrets({"general_settings": {key: value}}) == ({"general_settings": {key: value}}, {})


def test_two_secrets_never_share_a_variable():
    _, found = render.split_secrets({"a_b": {"password": "one"}, "a": {"b_password": "two"}})
    assert sorted(found.values()) == ["one", "two"] and len(found) == 2


def test_a_malformed_secret_field_is_never_echoed():
    for pillar in ({"environment": ["DATABASE_URL=postgres://u:PW-echo@db"]}, {"extra_config": "redis: PW-echo"},
                   {"pip": {"extra_index_urls": "https://u:PW-echo@idx"}}, {"pip": {"find_links": [1, "https://u:PW-echo@h/"]}}):
        errors = schema.validate_settings(merged(**pillar))
        assert errors and "PW-echo" not in repr(errors), errors
        assert "PW-echo" not in repr(render.redacted(merged(**pillar)))


def test_a_secret_in_a_list_or_under_the_formulas_prefix_is_refused():
    errors = schema.validate_settings(merged(extra_config={"general_settings": {"hosts": ["http://u:pw@h:1"]}},
                                             environment={"LITELLM_FORMULA_SECRET_X": "1"}))
    assert any(e.startswith("litellm:extra_config:general_settings:hosts:0: refused") for e in errors), errors
    assert any(e.startswith("litellm:environment:LITELLM_FORMULA_SECRET_X: reserved") for e in errors), errors
    bad_index = schema.validate_settings(merged(pip={"index_url": "ftp://u:hidden-pw@h/simple"}))
    assert bad_index and "hidden-pw" not in repr(bad_index)


def test_pip_config_holds_every_source():
    text = render.pip_config_text({"index_url": "https://u:p@i.example/simple", "extra_index_urls": ["https://x/simple"],
                                   "find_links": ["/var/cache/wheels"], "no_index": True})
    assert text.splitlines()[1:] == ["[global]", "index-url = https://u:p@i.example/simple", "extra-index-url =",
                                     "    https://x/simple", "find-links =", "    /var/cache/wheels", "no-index = true"]
