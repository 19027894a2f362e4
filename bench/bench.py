#!/usr/bin/env python3
"""Benchmarks of litellm-formula, run inside the throwaway systemd container (`make bench`).

Deploys through the formula (salt-call --local) and prints one markdown table. Every comparison is
measured side by side in this run and given as a ratio. Parts (`--parts`):

- walk: one factor at a time from LiteLLM's CLI defaults to the formula's default, every step running
  at once as its own unit, measured with wrk (keep-alive, and a new connection per request) in
  alternating rounds; min/median/max over the rounds; two ablations (per-token prices);
- busy: test/scenarios.py (slow, saturated, full, hung, dead, flapping backends) against the formula's
  default and LiteLLM's CLI defaults in front of the same two stand-ins;
- apply: first and no-op apply against an empty SLS; fanout: litellm.health with hanging backends;
- changes, recycle: planned changes under load before (0.3.0) and after, worker recycling's memory
  (bench/changes.py).

Pinning: single-worker proxies get core 0 (CPUAffinity=0), wrk and the stand-ins the last core
(taskset). Multi-worker setups get every core, shared with wrk and the stand-ins.
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "test"))

import changes  # noqa: E402
import scenarios  # noqa: E402
from helpers import DEFAULT_MODEL_TAG, StandinFleet, free_port, http, unit_pids, wait_for_port  # noqa: E402

CACHE = pathlib.Path(os.environ.get("LITELLM_FORMULA_CACHE", "/var/cache/litellm-formula"))
KEY = "sk-bench-" + os.urandom(12).hex()
WORK = pathlib.Path(tempfile.mkdtemp(prefix="litellm-bench.", dir="/var/tmp"))
OOTB_VENV = WORK / "ootb-venv"
SALT_CALL = [str(pathlib.Path(sys.executable).parent / "salt-call"), "-c", str(WORK / "conf"), "--local",
             "--out=json", "--retcode-passthrough"]
LOAD_CORE = str(os.cpu_count() - 1)  # wrk and the stand-ins; single-worker proxies get core 0


def sh(*args, check=True, **kwargs):
    return subprocess.run([str(a) for a in args], check=check, capture_output=True, text=True, **kwargs)


# --- deployment through the formula ---------------------------------------------------------------

def setup_salt():
    (WORK / "conf").mkdir()
    (WORK / "pillar").mkdir()
    (WORK / "states").mkdir()
    # The floor: an apply of one state that does nothing (an empty SLS is an error to Salt).
    (WORK / "states" / "empty.sls").write_text("bench-floor:\n  test.nop: []\n")
    (WORK / "conf" / "minion").write_text(json.dumps({
        "file_client": "local", "id": "bench", "root_dir": str(WORK / "root"),
        "file_roots": {"base": [str(REPO), str(WORK / "states")]},
        "pillar_roots": {"base": [str(WORK / "pillar")]},
    }))
    (WORK / "pillar" / "top.sls").write_text(json.dumps({"base": {"*": ["litellm"]}}))
    sh(*SALT_CALL, "saltutil.sync_all")


def set_pillar(backends, port, **extra):
    data = {"master_key": KEY, "bind_host": "127.0.0.1", "bind_port": port, "backends": backends,
            "models": [{"name": "bench", "provider": "ollama", "model": DEFAULT_MODEL_TAG}],
            "pip": {"find_links": [str(CACHE / "wheels")], "no_index": True}, **extra}
    (WORK / "pillar" / "litellm.sls").write_text("#!yaml\n" + json.dumps({"litellm": data}))


def apply(sls="litellm"):
    start = time.monotonic()
    ret = sh(*SALT_CALL, "state.apply", sls, check=False)
    took = time.monotonic() - start
    if ret.returncode != 0:
        raise SystemExit(f"apply {sls} failed:\n{ret.stdout[-3000:]}{ret.stderr[-2000:]}")
    return took


# --- measurements ---------------------------------------------------------------------------------

def cpu_seconds(pids):
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total / ticks


def pss_mb(pids):
    total = 0
    for pid in pids:
        try:
            for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wrk(url, body, concurrency, seconds, headers=None):
    script = WORK / "post.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}",
             'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items()]
    lines += ['done = function(summary, latency, requests)',
              '  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, '
              'summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout, '
              'latency:percentile(50), latency:percentile(99), summary.duration))',
              'end']
    script.write_text("\n".join(lines) + "\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ret = sh("taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
             "-s", script, url, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in ret.stdout.splitlines() if line.startswith("RESULT")]
    if ret.returncode != 0 or not lines:
        raise RuntimeError(f"wrk -c{concurrency} exited {ret.returncode}: {(ret.stdout + ret.stderr)[-300:]}")
    fields = lines[0].split()[1:]
    requests, errors, p50, p99, duration_us = map(int, fields)
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"requests": requests, "errors": errors, "rps": requests / (duration_us / 1e6),
            "p50_ms": p50 / 1000, "p99_ms": p99 / 1000, "wrk_cpu_s": wrk_cpu, "seconds": duration_us / 1e6}


def status_of(method, url, body=None, headers=None, timeout=60):
    try:
        return http(method, url, body, headers, timeout)[0]
    except OSError:  # refused, reset, timed out
        return None


def chat_body(stream):
    return {"model": "bench", "messages": [{"role": "user", "content": "Say hello"}], "stream": stream}


def journal_tail(unit, lines=15):
    return sh("journalctl", "-u", unit, "--no-pager", "-o", "cat", "-n", lines, check=False).stdout


# --- the parts -----------------------------------------------------------------------------------

def transient_proxy(name, port, args, config, env, pin, venv=None, props=()):
    # Readable by the service user; holds no key (os.environ/LITELLM_MASTER_KEY).
    WORK.chmod(0o711)
    cfg = WORK / f"{name}.yaml"
    cfg.write_text(json.dumps(config))
    cfg.chmod(0o644)
    props = ["-p", "User=litellm", "-p", "WorkingDirectory=/var/lib/litellm", *props]
    if pin:
        props += ["-p", "CPUAffinity=0"]
    envs = [f"--setenv={k}={v}" for k, v in env.items()]
    sh("systemctl", "stop", f"{name}.service", check=False)
    sh("systemctl", "reset-failed", f"{name}.service", check=False)
    sh("systemd-run", f"--unit={name}", *props, *envs, (venv or OOTB_VENV) / "bin/litellm", "--config", cfg,
       "--host", "127.0.0.1", "--port", port, *args)
    wait_for_port(port, timeout=120)
    return f"{name}.service"


def out_of_the_box_venv():
    """What LiteLLM's docs install: `pip install 'litellm[proxy]'` at the formula's version, nothing
    else (the formula's venv adds httptools, which the out-of-the-box CLI would not have)."""
    if not (OOTB_VENV / "bin/litellm").exists():
        sh("/usr/bin/python3", "-m", "venv", OOTB_VENV)
        sh(OOTB_VENV / "bin/pip", "install", "-q", "--no-index", "--find-links", CACHE / "wheels",
           f"litellm[proxy]=={args_version()}")


def out_of_the_box_config(backends):
    return {"model_list": [{"model_name": "bench", "litellm_params": {"model": f"ollama_chat/{DEFAULT_MODEL_TAG}",
                                                                      "api_base": b}} for b in backends],
            "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"}}


# --- part 1: the walk -----------------------------------------------------------------------------
# One factor at a time, from LiteLLM's CLI defaults to the formula's default. Every step runs at once
# (each its own unit and port) and is measured in alternating rounds, so drift on a shared machine
# hits every row alike. Rows print min/median/max over the rounds.

CLIENTS = {"keep-alive": {}, "new connection": {"Connection": "close"}}  # wrk reconnects after a close
CLI_ENV = {"LITELLM_MASTER_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # offline: no cost-map fetch
FORMULA_VENV = pathlib.Path("/opt/litellm/venv")
PRICES = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}


def config_with(formula, sections, backends):
    """LiteLLM's CLI config (deployments and the key) plus the named sections of the formula's config."""
    config = out_of_the_box_config(backends)
    by_base = {d["litellm_params"]["api_base"]: d for d in formula["model_list"]}
    for deployment in config["model_list"]:
        theirs = by_base[deployment["litellm_params"]["api_base"]]
        if "model_info" in sections:
            deployment["model_info"] = dict(theirs["model_info"])
        if "prices" in sections:
            deployment["litellm_params"].update(PRICES)
    if "router" in sections:
        config["router_settings"] = dict(formula["router_settings"])
    if "health" in sections or "workarounds" in sections:
        config["general_settings"].update({k: v for k, v in formula["general_settings"].items() if k != "master_key"})
        config["litellm_settings"] = dict(formula.get("litellm_settings") or {})
        # The formula's two callbacks are separate steps of the walk: keep the ones this step names.
        modules = {"health": "litellm_formula_liveness.", "workarounds": "litellm_formula_workarounds."}
        keep = tuple(modules[s] for s in sections if s in modules)
        config["litellm_settings"]["callbacks"] = [
            c for c in config["litellm_settings"].get("callbacks", [])
            if not c.startswith("litellm_formula_") or c.startswith(keep)]
    return config


def _formula_env(sections):
    return {"venv": "formula", "env": True, "sections": sections}


WALK = [  # (label, how): a transient unit {venv, env, sections} or a copy of the formula's unit {server, ...}
    ("CLI defaults, docs venv (litellm[proxy] only)", {"venv": "docs", "env": False, "sections": []}),
    ("+ the formula's venv (httptools, prisma, .pth, liveness module)",
     {"venv": "formula", "env": False, "sections": []}),
    ("+ the formula's environment file (litellm.env)", _formula_env([])),
    ("+ router_settings", _formula_env(["router"])),
    ("+ health checks (liveness callback; LiteLLM's probes off)", _formula_env(["router", "health"])),
    ("+ model_info", _formula_env(["router", "health", "model_info"])),
    ("+ workarounds callback (= the formula's config.yaml)",
     _formula_env(["router", "health", "model_info", "workarounds"])),
    ("+ the formula's hardened unit, uvicorn, 1 worker", {"server": "uvicorn", "workers": 1}),
    ("+ gunicorn, 1 worker", {"server": "gunicorn", "workers": 1}),
    (f"+ {os.cpu_count()} workers (= the formula's default)", {"server": "gunicorn", "workers": os.cpu_count()}),
]
ABLATIONS = [
    ("ablation: CLI defaults, docs venv, + per-token prices 0", {"venv": "docs", "env": False, "sections": ["prices"]}),
    ("ablation: the formula's default + per-token prices 0 (the old default)",
     {"server": "gunicorn", "workers": os.cpu_count(), "prices": True}),
]
CLI_DOCS, CLI_FORMULA_VENV, DEFAULT = WALK[0][0], WALK[1][0], WALK[-1][0]


def walk_transient(name, port, how, formula, backends):
    venv = OOTB_VENV if how["venv"] == "docs" else FORMULA_VENV
    props = ["-p", "EnvironmentFile=/etc/litellm/litellm.env"] if how["env"] else []
    return transient_proxy(name, port, [], config_with(formula, how["sections"], backends), CLI_ENV, True,
                           venv=venv, props=props)


def walk_unit(name, port, how, formula):
    """A copy of the formula's installed unit under another name and port, with the step's server
    and worker count (and, for the price ablation, a config copy beside the real one)."""
    lines = []
    for line in pathlib.Path("/etc/systemd/system/litellm.service").read_text().splitlines():
        if line.startswith("ExecStart="):
            argv = line.split("=", 1)[1].split()
            argv = argv[:argv.index("--port") + 2]
            argv[-1] = str(port)
            argv += (["--run_gunicorn"] if how["server"] == "gunicorn" else []) + ["--num_workers", str(how["workers"])]
            if how.get("prices"):
                config = dict(formula, model_list=[
                    {**d, "litellm_params": {**d["litellm_params"], **PRICES}} for d in formula["model_list"]])
                path = pathlib.Path(f"/etc/litellm/{name}.yaml")
                path.write_text(json.dumps(config))
                shutil.chown(path, "root", "litellm")
                path.chmod(0o640)
                argv[argv.index("--config") + 1] = str(path)
            line = "ExecStart=" + " ".join(argv)
        elif line.startswith("RuntimeDirectory="):
            line = f"RuntimeDirectory={name}"
        lines.append(line)
        if line == "[Service]" and how["workers"] == 1:
            lines.append("CPUAffinity=0")  # like the transient single-worker rows
    pathlib.Path(f"/etc/systemd/system/{name}.service").write_text("\n".join(lines) + "\n")
    sh("systemctl", "daemon-reload")
    sh("systemctl", "start", f"{name}.service")
    return f"{name}.service"


def walk_round(unit, port, client, seconds):
    auth = {"Authorization": f"Bearer {KEY}", **CLIENTS[client]}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    wrk(url, chat_body(False), 8, 2, auth)  # warm-up, not counted
    pids = unit_pids(unit)
    before = cpu_seconds(pids)
    r = wrk(url, chat_body(False), 8, seconds, auth)
    if set(unit_pids(unit)) != set(pids):
        raise RuntimeError(f"{unit} lost or replaced a process during the round; its journal:\n" + journal_tail(unit))
    r["cpu_ms_per_req"] = (cpu_seconds(pids) - before) * 1000 / max(1, r["requests"])
    return r


def start_walk_units(args, backends, results):
    import yaml

    formula = yaml.safe_load(pathlib.Path("/etc/litellm/config.yaml").read_text())
    units = {}
    for index, (label, how) in enumerate(WALK + ABLATIONS):
        port, name = free_port(), f"bench-walk-{index}"
        start = time.monotonic()
        unit = walk_unit(name, port, how, formula) if "server" in how else walk_transient(
            name, port, how, formula, backends)
        units[label] = (unit, port)
        while status_of("GET", f"http://127.0.0.1:{port}/health/liveliness", timeout=2) != 200:
            if time.monotonic() - start > 120:
                raise SystemExit(f"{unit} did not come up:\n{journal_tail(unit)}")
            time.sleep(0.1)
        results[("walk", label, "start")] = time.monotonic() - start
    return units


def part_walk(args, backends, results):
    set_pillar(backends, args.port)
    apply()
    units = {}
    try:
        units = start_walk_units(args, backends, results)
        for _ in range(args.rounds):
            for label, (unit, port) in units.items():
                for client in CLIENTS:
                    try:
                        r = walk_round(unit, port, client, args.seconds)
                    except RuntimeError as exc:
                        incident(results, label, exc)
                        continue
                    results.setdefault(("walk", label, client), []).append(r)
                    print(f"  walk | {label} | {client} | {r['cpu_ms_per_req']:.2f} ms/req | {r['rps']:.0f} req/s",
                          file=sys.stderr, flush=True)
        for label, (unit, _) in units.items():
            results[("walk", label, "pss")] = pss_mb(unit_pids(unit))
    finally:
        for unit, _ in units.values():
            sh("systemctl", "stop", unit, check=False)
            pathlib.Path(f"/etc/systemd/system/{unit}").unlink(missing_ok=True)
            pathlib.Path(f"/etc/litellm/{unit.removesuffix('.service')}.yaml").unlink(missing_ok=True)
        sh("systemctl", "daemon-reload")


def incident(results, label, exc):
    """A measurement that failed: its row says so, the full text goes under the table."""
    text = str(exc)
    results[(label, "error")] = text.splitlines()[0][:160]
    results.setdefault("incidents", []).append(f"{label}: {text}")


BUSY_SETUPS = ("formula default", "LiteLLM CLI defaults")
BUSY_WHAT = {
    "slow": "both slow (4 s per answer, 2 slots each), 4 clients, 30 s",
    "saturated": "one saturated (1 slot, queue of 1: 503 when full), 8 clients, 20 s",
    "full": "both saturated (1 slot, queue of 1 each: the fleet is over capacity), 8 clients, 20 s",
    "hung": "one hung (SIGSTOP after 3 s, stays stopped), 8 clients, 30 s, client timeout 30 s",
    "dead": "one dead (stopped), 1,000 sequential requests",
    "flapping": "one flapping (stopped and started every 2 s), 8 clients, 24 s",
}


def part_busy(args, results):
    """Issue 10's scenarios (test/scenarios.py) against the formula's default and LiteLLM's CLI
    defaults, both in front of the same two stand-ins, one scenario at a time, alternating."""
    fleet = StandinFleet()
    try:
        a, b = fleet.start("busy-a"), fleet.start("busy-b")
        set_pillar([a.url, b.url], args.port)
        apply()
        wait_for_port(args.port)
        env = {"LITELLM_MASTER_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OLLAMA_API_BASE": a.url}
        port = free_port()
        transient_proxy("bench-cli-busy", port, [], out_of_the_box_config([a.url, b.url]), env, False)
        ports = dict(zip(BUSY_SETUPS, (args.port, port)))
        for name in args.busy:
            for label in BUSY_SETUPS:
                time.sleep(8)  # one probe interval and more: both proxies see the recovered backends
                results[("busy", name, label)] = scenarios.ALL[name](ports[label], KEY, "bench", a, b)
                print(f"  6 busy | {name} | {label} | {results[('busy', name, label)].line()}", file=sys.stderr)
    finally:
        fleet.stop_all()
        sh("systemctl", "stop", "bench-cli-busy.service", check=False)


def part_fanout(args, results):
    for total in (1, 8, 32):
        hanging = total // 4
        fleet = StandinFleet()
        try:
            members = [fleet.start(f"h{i}", extra_args=["--hang"] if i >= total - hanging else [])
                       for i in range(total)]
            set_pillar([m.url for m in members], args.port)
            apply()
            out = sh(*SALT_CALL, "litellm.health", "timeout=3", check=False).stdout
            report = json.loads(out)["local"]
            results[("fanout", total)] = (hanging, report["duration_ms"] / 1000)
        finally:
            fleet.stop_all()


def part_apply(args, standin, results):
    set_pillar([standin.url], args.port)
    results[("apply", "first")] = apply()
    wait_for_port(args.port)
    noop = [apply() for _ in range(3)]
    floor = [apply("empty") for _ in range(3)]
    results[("apply", "noop")] = statistics.median(noop)
    results[("apply", "floor")] = statistics.median(floor)


# --- report --------------------------------------------------------------------------------------

def fmt(value, unit="", digits=1):
    return f"{value:.{digits}f}{unit}"


def spread(values, digits=1):
    values = sorted(values)
    return f"{values[0]:.{digits}f}/{statistics.median(values):.{digits}f}/{values[-1]:.{digits}f}"


def walk_median(results, label, client, key):
    runs = results.get(("walk", label, client)) or []
    return statistics.median(r[key] for r in runs) if runs else None


def report_walk(results, args, add):
    for label, _ in WALK + ABLATIONS:
        if (label, "error") in results:
            add("1 walk", label, "incident: " + results[(label, "error")].replace("|", "/"), "")
        for client in CLIENTS:
            runs = results.get(("walk", label, client))
            if not runs:
                continue
            cpu, rps = [r["cpu_ms_per_req"] for r in runs], [r["rps"] for r in runs]
            errors = sum(r["errors"] for r in runs)
            ratios = []
            for base in (CLI_FORMULA_VENV, CLI_DOCS):
                b_cpu, b_rps = (walk_median(results, base, client, k) for k in ("cpu_ms_per_req", "rps"))
                if b_cpu and label != base:
                    ratios.append(f"x{statistics.median(cpu) / b_cpu:.2f} CPU, x{statistics.median(rps) / b_rps:.2f} "
                                  f"req/s vs {'CLI, same venv' if base == CLI_FORMULA_VENV else 'CLI, docs venv'}")
            add("1 walk", f"{label}, {client}", f"{spread(cpu, 2)} ms CPU/req, {spread(rps, 0)} req/s, "
                f"{errors} errors ({len(runs)} rounds)", "; ".join(ratios))
        if ("walk", label, "pss") in results:
            add("1 walk", f"{label}: memory, start", f"PSS {results[('walk', label, 'pss')]:.0f} MB, start "
                f"{results[('walk', label, 'start')]:.1f} s", "")
    for client in CLIENTS:
        d_cpu, d_rps = (walk_median(results, DEFAULT, client, k) for k in ("cpu_ms_per_req", "rps"))
        c_cpu, c_rps = (walk_median(results, CLI_FORMULA_VENV, client, k) for k in ("cpu_ms_per_req", "rps"))
        if d_cpu and c_cpu:
            add("2 targets", f"formula default vs CLI defaults (same venv), {client}: CPU per request",
                f"{d_cpu:.2f} vs {c_cpu:.2f} ms", f"x{d_cpu / c_cpu:.2f} (target <= 0.90, stretch 0.75)")
            add("2 targets", f"formula default vs CLI defaults (same venv), {client}: requests/s on "
                f"{os.cpu_count()} cores", f"{d_rps:.0f} vs {c_rps:.0f}", f"x{d_rps / c_rps:.2f} (target >= 1.70)")


def report(results, args):
    lines = ["| part | what | figure | ratio |", "| --- | --- | --- | --- |"]
    add = lambda *cells: lines.append("| " + " | ".join(str(c) for c in cells) + " |")  # noqa: E731
    if "walk" in args.parts:
        report_walk(results, args, add)
    for name in args.busy:
        got = {label: results.get(("busy", name, label)) for label in BUSY_SETUPS}
        for label, summary in got.items():
            if summary is None:
                continue
            other = got[BUSY_SETUPS[1]]
            ratio = (f"failed {len(summary.failed)} vs {len(other.failed)}, longest wait {summary.longest:.1f} vs "
                     f"{other.longest:.1f} s") if label == BUSY_SETUPS[0] and other else ""
            extra = "".join(f"; {k}: {v}" for k, v in summary.extra.items())
            add("3 busy backends", f"{BUSY_WHAT[name]}: {label}", summary.line() + extra, ratio)
    if "apply" in args.parts:
        add("4 apply cost", "first apply (wheel cache)", fmt(results[("apply", "first")], " s"), "")
        noop, floor = results[("apply", "noop")], results[("apply", "floor")]
        add("4 apply cost", "no-op re-apply (median of 3)", fmt(noop, " s", 2), f"x{noop / floor:.2f} of the floor")
        add("4 apply cost", "floor: empty SLS (median of 3)", fmt(floor, " s", 2), "")
    if "changes" in args.parts:
        changes.report_changes(results, add)
    if "recycle" in args.parts:
        changes.report_recycle(results, add)
    if "fanout" in args.parts:
        for total in (1, 8, 32):
            hanging, took = results[("fanout", total)]
            add("5 health fan-out", f"{total} backends, {hanging} never answering, timeout 3 s", fmt(took, " s", 2),
                f"{took - 3:+.2f} s vs the timeout")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per round of the walk")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the walk")
    parser.add_argument("--busy", nargs="+", default=list(scenarios.ALL), choices=list(scenarios.ALL),
                        help="busy-backend scenarios to run (part 3)")
    parser.add_argument("--parts", nargs="+", default=["walk", "busy", "apply", "fanout", "changes", "recycle"],
                        choices=["walk", "busy", "apply", "fanout", "changes", "recycle"],
                        help="parts to run (default: all)")
    parser.add_argument("--recycle-requests", type=int, default=50_000, help="requests per setting in part 7")
    parser.add_argument("--recycle-every", type=int, default=10_000,
                        help="max_requests_before_restart measured against off in part 7")
    args = parser.parse_args()
    args.port = free_port()
    results = {}
    fleet = StandinFleet()
    try:
        setup_salt()
        a = fleet.start("a")
        fleet.start("b")
        for member in fleet.members:
            sh("taskset", "-pc", LOAD_CORE, member.process.pid)
        out_of_the_box_venv()
        if "apply" in args.parts:  # first: its first apply installs the virtualenv
            part_apply(args, a, results)
        if "walk" in args.parts:
            part_walk(args, [m.url for m in fleet.members], results)
        if "busy" in args.parts:
            part_busy(args, results)
        if "fanout" in args.parts:
            part_fanout(args, results)
        if "changes" in args.parts or "recycle" in args.parts:
            sh(*SALT_CALL, "state.apply", "litellm.clean", check=False)  # each part deploys its own
            backends = [m.url for m in fleet.members]
            if "changes" in args.parts:
                changes.part_changes(args, backends, KEY, args.port, results)
            if "recycle" in args.parts:
                changes.part_recycle(args, backends, KEY, args.port, results)
    finally:
        fleet.stop_all()
        sh(*SALT_CALL, "state.apply", "litellm.clean", check=False)
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"\nlitellm-formula benchmark, {time.strftime('%Y-%m-%d')}, litellm {args_version()}, salt "
          f"{sh(SALT_CALL[0], '--version').stdout.split()[1]}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB\n")
    print(report(results, args))
    for text in results.get("incidents", []):
        print(f"\nIncident: {text}")


def args_version():
    text = (REPO / "litellm/parameters/defaults.yaml").read_text()
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("version:"))


if __name__ == "__main__":
    main()
