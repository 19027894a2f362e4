"""`health_report` shaping against real Ollama API stand-ins (no proxy running on the probed port)."""

from helpers import DEFAULT_MODEL_TAG, free_port

from litellm_formula import health


def test_backends_detail_and_verdict_without_a_proxy(standins):
    good = standins.start("good")
    lacking = standins.start("lacking", models=("llama3.2:1b",))
    dead_url = f"http://127.0.0.1:{free_port()}"
    model_map = {"phi3": [good.url, lacking.url, dead_url], "small": [lacking.url]}
    tags = {"phi3": DEFAULT_MODEL_TAG, "small": "llama3.2:1b"}
    report = health.health_report(f"http://127.0.0.1:{free_port()}", "sk-unused-0000000000000", model_map, tags,
                               timeout=2)
    assert report["backends"][good.url]["up"] is True
    assert report["backends"][good.url]["version"]
    assert report["backends"][lacking.url]["missing"] == [DEFAULT_MODEL_TAG]
    assert report["backends"][dead_url]["up"] is False
    assert "refused" in report["backends"][dead_url]["error"].lower()
    assert report["models"]["phi3"]["backends"] == {good.url: "ok", lacking.url: "model missing", dead_url: "down"}
    assert (report["models"]["phi3"]["backends_up"], report["models"]["phi3"]["backends_total"]) == (1, 3)
    assert report["models"]["small"]["backends_up"] == 1
    assert report["status"] == "unhealthy" and report["healthy"] is False  # no proxy answers
    assert "does not answer" in report["summary"]
    assert f"backend {dead_url} down" in report["summary"]


def test_a_hanging_backend_costs_one_timeout(standins):
    hanging = standins.start("hang", extra_args=["--hang"])
    report = health.health_report(f"http://127.0.0.1:{free_port()}", "sk-unused-0000000000000",
                               {"a": [hanging.url], "b": [hanging.url]}, {"a": "x:1", "b": "y:1"}, timeout=1)
    assert report["backends"][hanging.url]["error"] == "timed out"
    assert report["duration_ms"] < 2000


def test_error_lines_keep_the_reason_once_and_drop_the_noise():
    text = "\n".join([
        "2026-11-30T15:36:01+0000 vm litellm[7]: [INFO] Starting gunicorn 23.0.0",
        "2026-11-30T15:36:01+0000 vm litellm[7]: [ERROR] Connection in use: ('127.0.0.1', 4000)",
        "2026-11-30T15:36:01+0000 vm litellm[7]: [ERROR] connection failed: [Errno 98] Address already in use",
        "2026-11-30T15:36:02+0000 vm litellm[7]: [ERROR] connection failed: [Errno 98] Address already in use",
        "2026-11-30T15:36:06+0000 vm systemd[1]: litellm.service: Failed with result 'exit-code'.",
        "2026-11-30T15:36:11+0000 vm systemd[1]: Started litellm.service - LiteLLM OpenAI Proxy.",
    ])
    errors = health.error_lines(text).splitlines()
    assert len(errors) == 3
    assert sum("Address already in use" in line for line in errors) == 1
    assert "Started" not in "\n".join(errors)
