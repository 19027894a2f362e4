"""Issue 14's rules in pure logic: the drain window, worker recycling, the socket unit's values."""

import pytest
from test_settings import merged

from litellm_formula import render, schema


@pytest.mark.parametrize(("pillar", "named"), [
    ({"shutdown_timeout": 30}, "litellm:shutdown_timeout: 30 s is shorter than litellm:router:timeout (300 s)"),
    ({"shutdown_timeout": 300, "router": {"stream_timeout": 600}}, "litellm:router:stream_timeout (600 s)"),
    ({"shutdown_timeout": 300, "models": [{"name": "m", "model": "m:1", "timeout": 900}]},
     "litellm:models:0:timeout (900 s)"),
    ({"max_requests_before_restart_jitter": 100}, "set without litellm:max_requests_before_restart"),
    ({"max_requests_before_restart": 1000, "server": "granian"}, "granian ignores it"),
    ({"max_requests_before_restart": 1000, "num_workers": 1}, "no worker while the recycled one restarts"),
])
def test_settings_that_would_cut_or_refuse_requests_are_refused(pillar, named):
    errors = schema.validate_settings(merged(**pillar))
    assert any(named in error for error in errors), errors


def test_a_drain_as_long_as_the_router_allows_is_accepted():
    assert schema.validate_settings(merged(shutdown_timeout=300)) == []
    assert schema.validate_settings(merged(shutdown_timeout=60, router={"timeout": 60, "stream_timeout": 30})) == []


def test_recycling_flags_reach_the_command_line():
    args = render.server_args(merged(max_requests_before_restart=10000, max_requests_before_restart_jitter=1000), 2)
    assert args[-4:] == ["--max_requests_before_restart", "10000", "--max_requests_before_restart_jitter", "1000"]
    assert "--max_requests_before_restart" not in render.server_args(merged(), 2)


def test_only_gunicorn_inherits_the_socket():
    assert render.socket_activated(merged())
    assert not render.socket_activated(merged(server="uvicorn"))
    assert not render.socket_activated(merged(server="granian"))


def test_listen_stream_and_limits_follow_the_settings():
    assert render.listen_stream(merged(bind_host="::1", bind_port=4100)) == "[::1]:4100"
    assert render.listen_stream(merged()) == "0.0.0.0:4000"
    assert render.limit_nofile(merged(max_connections=10000)) == 21024


def test_the_socket_is_bound_again_only_when_listening_changes():
    base = render.socket_digest(merged())
    # A backend added by address, a description: a daemon-reload, no rebind (no refused connection).
    assert render.socket_digest(merged(backends=["http://127.0.0.1:11434", "http://10.1.2.3:11434"])) == base
    assert render.socket_digest(merged(service_description="LLM gateway")) == base
    for changed in ({"bind_port": 4001}, {"bind_host": "127.0.0.1"}, {"max_connections": 8192},
                    {"ip_address_allow": ["10.0.0.0/8"]}):
        assert render.socket_digest(merged(**changed)) != base, changed
    assert render.socket_ip_address_allow(merged(ip_address_allow=["10.0.0.0/8"])) == ["localhost", "10.0.0.0/8"]
    assert render.socket_ip_address_allow(merged(ip_address_allow=["any"])) is None


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("salt://locks/litellm-1.108.7.txt", True), ("/srv/locks/litellm.txt", True),
    ("locks/litellm.txt", False), ("https://example.com/lock.txt", False), ("/srv/a\nb", False),
])
def test_lock_file_is_empty_a_salt_url_or_an_absolute_path(value, ok):
    errors = schema.validate_settings(merged(lock_file=value))
    assert (errors == []) is ok, errors
