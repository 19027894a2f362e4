#!/usr/bin/env python3
"""Check a LiteLLM proxy config before it replaces the live one (Salt file.managed check_cmd).

Runs with the service virtualenv's Python: the same LiteLLM that will load the file builds its
Router from it, so a config this release rejects fails here, not at the next restart.
Exit 0 when usable; otherwise 1 and the reason on stderr.
"""

import sys

import yaml


def fail(message):
    print(f"check-config: {message}", file=sys.stderr)
    sys.exit(1)


def main(path):
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read {path}: {exc}")
    if not isinstance(config, dict):
        fail("the config is not a mapping")
    model_list = config.get("model_list")
    if not isinstance(model_list, list) or not model_list:
        fail("model_list is empty")
    for section in ("router_settings", "general_settings", "litellm_settings"):
        if not isinstance(config.get(section) or {}, dict):
            fail(f"{section} is not a mapping")
    master_key = (config.get("general_settings") or {}).get("master_key", "")
    if not str(master_key).startswith("os.environ/"):
        fail("general_settings.master_key must be os.environ/...: no secret in this file")

    from litellm import Router  # slow import: only once the cheap checks passed

    try:
        Router(model_list=model_list, **(config.get("router_settings") or {}))
    except Exception as exc:  # noqa: BLE001 - any rejection is a failed check
        fail(f"LiteLLM rejects this config: {type(exc).__name__}: {exc}")
    print(f"check-config: ok ({len(model_list)} deployments)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: check_config.py CONFIG")
    main(sys.argv[1])
