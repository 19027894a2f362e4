#!/usr/bin/env python3
"""Benchmarks of litellm-formula, run inside the throwaway systemd container (`make bench`).

Deploys through the formula (salt-call --local), drives bounded load on loopback with wrk, and prints
one markdown table. Every comparison is measured side by side in this run and given as a ratio.

Pinning: single-worker proxies get core 0 (CPUAffinity=0), wrk and the stand-ins the last core
(taskset). Multi-worker modes get every core, shared with the load generator and the stand-in (on a
2-core host nothing else is possible; both cost a few percent of a core at these rates).
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

import scenarios  # noqa: E402
from helpers import DEFAULT_MODEL_TAG, StandinFleet, free_port, http, unit_pids, wait_for_port  # noqa: E402

CACHE = pathlib.Path(os.environ.get("LITELLM_FORMULA_CACHE", "/var/cache/litellm-formula"))
KEY = "sk-bench-" + os.urandom(12).hex()
WORK = pathlib.Path(tempfile.mkdtemp(prefix="litellm-bench.", dir="/var/tmp"))
OOTB_VENV = WORK / "ootb-venv"
SALT_CALL = [str(pathlib.Path(sys.executable).parent / "salt-call"), "-c", str(WORK / "conf"), "--local",
             "--out=json", "--retcode-passthrough"]
ROWS = []
STANDIN_PIDS = []
LOAD_CORE = str(os.cpu_count() - 1)  # wrk and the stand-ins; single-worker proxies get core 0


def sh(*args, check=True, **kwargs):
    return subprocess.run([str(a) for a in args], check=check, capture_output=True, text=True, **kwargs)


def row(part, what, value, ratio=""):
    ROWS.append((part, what, value, ratio))
    print(f"  {part} | {what} | {value} | {ratio}", file=sys.stderr, flush=True)


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


def restart(unit, port, transient=False):
    """Seconds to stop the unit, and to start it until /health/liveliness answers. A transient unit
    is gone once stopped, so its stop is part of its start (and reported as None)."""
    stop = None
    start = time.monotonic()
    if transient:
        sh("systemctl", "restart", unit)
    else:
        sh("systemctl", "stop", unit)
        stop = time.monotonic() - start
        start = time.monotonic()
        sh("systemctl", "start", unit)
    while time.monotonic() - start < 120:
        if status_of("GET", f"http://127.0.0.1:{port}/health/liveliness", timeout=2) == 200:
            return stop, time.monotonic() - start
        time.sleep(0.1)
    raise SystemExit(f"{unit} did not come up")


def chat_body(stream):
    return {"model": "bench", "messages": [{"role": "user", "content": "Say hello"}], "stream": stream}


def journal_tail(unit, lines=15):
    return sh("journalctl", "-u", unit, "--no-pager", "-o", "cat", "-n", lines, check=False).stdout


def measure_proxy(label, unit, port, seconds, concurrencies, results):
    auth = {"Authorization": f"Bearer {KEY}"}
    stop, up = restart(unit, port, transient=unit.startswith("bench-"))
    main_pid = sh("systemctl", "show", "-p", "MainPID", "--value", unit).stdout.strip()
    for _ in range(20):  # warm up
        status_of("POST", f"http://127.0.0.1:{port}/v1/chat/completions", chat_body(False), auth)
    pids = unit_pids(unit)
    for stream in (False, True):
        for conc in concurrencies:
            before, standin_before = cpu_seconds(unit_pids(unit)), cpu_seconds(STANDIN_PIDS)
            try:
                r = wrk(f"http://127.0.0.1:{port}/v1/chat/completions", chat_body(stream), conc, seconds, auth)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; {unit}'s journal:\n{journal_tail(unit)[-1500:]}") from exc
            r["cpu_ms_per_req"] = (cpu_seconds(unit_pids(unit)) - before) * 1000 / max(1, r["requests"])
            r["standin_cpu_s"] = cpu_seconds(STANDIN_PIDS) - standin_before
            if sh("systemctl", "show", "-p", "MainPID", "--value", unit).stdout.strip() != main_pid:
                raise RuntimeError(f"{unit} restarted during {'stream' if stream else 'plain'} c={conc} "
                                   f"({r['errors']} errors); its journal:\n" + journal_tail(unit)[-1500:])
            results[(label, stream, conc)] = r
    results[(label, "pss")] = pss_mb(pids)
    results[(label, "startup")] = up
    results[(label, "stop")] = stop


# --- the parts -----------------------------------------------------------------------------------

def transient_proxy(name, port, args, config, env, pin):
    # Readable by the service user; holds no key (os.environ/LITELLM_MASTER_KEY).
    WORK.chmod(0o711)
    cfg = WORK / f"{name}.yaml"
    cfg.write_text(json.dumps(config))
    cfg.chmod(0o644)
    props = ["-p", "User=litellm", "-p", "WorkingDirectory=/var/lib/litellm"]
    if pin:
        props += ["-p", "CPUAffinity=0"]
    envs = [f"--setenv={k}={v}" for k, v in env.items()]
    sh("systemctl", "stop", f"{name}.service", check=False)
    sh("systemctl", "reset-failed", f"{name}.service", check=False)
    sh("systemd-run", f"--unit={name}", *props, *envs, OOTB_VENV / "bin/litellm", "--config", cfg,
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


FORMULA_DEFAULT = f"formula default (gunicorn, {os.cpu_count()} workers)"
# gunicorn's workers are uvicorn workers: one uvicorn worker is the default's single-worker basis.
SINGLE = "formula, uvicorn, 1 worker"
OUT_OF_THE_BOX = "out-of-the-box CLI (uvicorn, 1 worker)"
ONE = {"server": "uvicorn", "num_workers": 1}
# (label, pillar overrides, pinned to core 0, concurrencies: None = all). Everything but the
# out-of-the-box CLI goes through the formula, so each row differs from the default in what its
# label says.
FORMULA_MODES = [
    (FORMULA_DEFAULT, {}, False, None),
    (f"formula, uvicorn, {os.cpu_count()} workers", {"server": "uvicorn"}, False, None),
    (f"formula, granian, {os.cpu_count()} workers", {"server": "granian"}, False, None),
    (SINGLE, ONE, True, None),
    ("formula, granian, 1 worker", {"server": "granian", "num_workers": 1}, True, None),
    ("formula, uvicorn, 1 worker, log_level INFO (old default)", {**ONE, "log_level": "INFO"}, True, [8]),
    ("formula, uvicorn, 1 worker, no model prices (old config)", {**ONE, "no_prices": True}, True, [8]),
]


UNPRICED = pathlib.Path("/etc/litellm/bench-unpriced.yaml")


def unpriced_config():
    """The formula's config.yaml without per-token prices (LiteLLM then looks them up per request),
    beside the real one so the sandboxed service can read it."""
    import yaml

    config = yaml.safe_load(pathlib.Path("/etc/litellm/config.yaml").read_text())
    for deployment in config["model_list"]:
        for key in ("input_cost_per_token", "output_cost_per_token"):
            deployment["litellm_params"].pop(key, None)
    UNPRICED.write_text(json.dumps(config))
    shutil.chown(UNPRICED, "root", "litellm")
    UNPRICED.chmod(0o640)
    return UNPRICED


def part_gateway(args, standin, results):
    seconds, concs = args.seconds, args.concurrency
    direct = {}
    for conc in concs:
        direct[conc] = wrk(f"{standin.url}/api/chat", {"model": DEFAULT_MODEL_TAG, "stream": False,
                                                        "messages": [{"role": "user", "content": "Say hello"}]},
                           conc, seconds)
    results[("direct",)] = direct
    for label, extra, pin, only in FORMULA_MODES:
        extra = dict(extra)
        unpriced = extra.pop("no_prices", False)
        set_pillar([standin.url], args.port, **extra)
        try:
            apply()
            pin_dropin(pin, unpriced_config() if unpriced else None)
            measure_proxy(label, "litellm.service", args.port, seconds, only or concs, results)
        except (SystemExit, subprocess.CalledProcessError, TimeoutError, RuntimeError) as exc:
            incident(results, label, exc)
        finally:
            pin_dropin(False)
    set_pillar([standin.url], args.port)
    apply()
    env = {"LITELLM_MASTER_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OLLAMA_API_BASE": standin.url}
    port = free_port()
    try:
        unit = transient_proxy("bench-ootb", port, [], out_of_the_box_config([standin.url]), env, True)
        measure_proxy(OUT_OF_THE_BOX, unit, port, seconds, concs, results)
    except (SystemExit, subprocess.CalledProcessError, TimeoutError, RuntimeError) as exc:
        incident(results, OUT_OF_THE_BOX, exc)
    finally:
        sh("systemctl", "stop", "bench-ootb.service", check=False)


def incident(results, label, exc):
    """A measurement that failed: its row says so, the full text goes under the table."""
    text = str(exc)
    results[(label, "error")] = text.splitlines()[0][:160]
    results.setdefault("incidents", []).append(f"{label}: {text}")


def pin_dropin(pin, config=None):
    """A drop-in pinning the service to core 0 and/or pointing it at another config; False removes it."""
    dropin = pathlib.Path("/etc/systemd/system/litellm.service.d/zz-bench.conf")
    lines = ["[Service]"]
    if pin:
        lines.append("CPUAffinity=0")
    if config:
        exec_start = sh("systemctl", "show", "-p", "ExecStart", "--value", "litellm.service").stdout
        argv = exec_start.split("argv[]=", 1)[1].split(" ;", 1)[0].split()
        argv[argv.index("--config") + 1] = str(config)
        lines += ["ExecStart=", "ExecStart=" + " ".join(argv)]
    if len(lines) > 1:
        dropin.parent.mkdir(exist_ok=True)
        dropin.write_text("\n".join(lines) + "\n")
    elif dropin.exists():
        dropin.unlink()
    if not config:
        UNPRICED.unlink(missing_ok=True)
    sh("systemctl", "daemon-reload")


BUSY_SETUPS = ("formula default", "LiteLLM CLI defaults")
BUSY_WHAT = {
    "slow": "both slow (4 s per answer, 2 slots each), 4 clients, 30 s",
    "saturated": "one saturated (1 slot, queue of 1: 503 when full), 8 clients, 20 s",
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


def report(results, args):
    lines = ["| part | what | figure | ratio |", "| --- | --- | --- | --- |"]
    add = lambda *cells: lines.append("| " + " | ".join(str(c) for c in cells) + " |")  # noqa: E731
    base = OUT_OF_THE_BOX
    if "gateway" in args.parts:
        for conc in args.concurrency:
            d = results[("direct",)][conc]
            add("1 gateway cost", f"direct to the stand-in, c={conc}",
                f"{d['rps']:.0f} req/s, p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms", "floor")
        for label in [mode[0] for mode in FORMULA_MODES] + [base]:
            if (label, "error") in results:
                add("1 gateway cost", label, "failed: " + results[(label, "error")].replace("|", "/"), "")
            for stream in (False, True):
                for conc in args.concurrency:
                    r = results.get((label, stream, conc))
                    if r is None:
                        continue
                    b = results.get((base, stream, conc))
                    ratio = (f"CPU/req x{r['cpu_ms_per_req'] / b['cpu_ms_per_req']:.2f}, "
                             f"req/s x{r['rps'] / b['rps']:.2f} vs out-of-the-box") if b and label != base else ""
                    add("1 gateway cost", f"{label}, {'stream' if stream else 'plain'}, c={conc}",
                        f"{r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                        f"{r['cpu_ms_per_req']:.1f} ms CPU/req, {r['errors']} errors", ratio)
            if (label, "pss") not in results:
                continue
            stop = results[(label, "stop")]
            stop = "stop+start" if stop is None else f"stop {stop:.1f} s, start"
            add("1 gateway cost", f"{label}: memory, stop, start", f"PSS {results[(label, 'pss')]:.0f} MB, "
                f"{stop} {results[(label, 'startup')]:.1f} s", "")
        cores = os.cpu_count()
        for stream in (False, True):
            kind = "stream" if stream else "plain"
            peak = {label: max((results[(label, stream, c)] for c in args.concurrency if (label, stream, c) in results),
                               key=lambda r: r["rps"], default=None) for label in (FORMULA_DEFAULT, SINGLE, base)}
            d, one, o = peak[FORMULA_DEFAULT], peak[SINGLE], peak[base]
            if d and one:
                load = (d["wrk_cpu_s"] + d["standin_cpu_s"]) / d["seconds"]
                add("2 tuning: scaling", f"formula default vs {cores} x 1 worker (peak req/s over c), {kind}",
                    f"{d['rps']:.0f} vs {cores} x {one['rps']:.0f} req/s (wrk and stand-in used {load:.2f} of a core)",
                    f"x{d['rps'] / (cores * one['rps']):.2f} (target 0.90)")
            if d and o:
                add("2 tuning: CPU/req", f"formula default vs out-of-the-box (at peak req/s), {kind}",
                    f"{d['cpu_ms_per_req']:.1f} vs {o['cpu_ms_per_req']:.1f} ms",
                    f"x{d['cpu_ms_per_req'] / o['cpu_ms_per_req']:.2f} (target 0.75)")
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
    if "fanout" in args.parts:
        for total in (1, 8, 32):
            hanging, took = results[("fanout", total)]
            add("5 health fan-out", f"{total} backends, {hanging} never answering, timeout 3 s", fmt(took, " s", 2),
                f"{took - 3:+.2f} s vs the timeout")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--busy", nargs="+", default=list(scenarios.ALL), choices=list(scenarios.ALL),
                        help="busy-backend scenarios to run (part 3)")
    parser.add_argument("--parts", nargs="+", default=["apply", "gateway", "busy", "fanout"],
                        choices=["apply", "gateway", "busy", "fanout"], help="parts to run (default: all)")
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
            STANDIN_PIDS.append(member.process.pid)
        out_of_the_box_venv()
        if "apply" in args.parts:
            part_apply(args, a, results)
        if "gateway" in args.parts:
            part_gateway(args, a, results)
        if "busy" in args.parts:
            part_busy(args, results)
        if "fanout" in args.parts:
            part_fanout(args, results)
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
