"""Parts 6 and 7 of `make bench`: planned changes under load, and worker recycling.

6 (changes): the same changes under the same bounded load (8 closed-loop clients, plain and
streaming chat, a new connection per request), made through the formula before socket activation
and side-by-side installs (0.3.0, exported from git) and through this one, one after the other in
this run. For each: requests failed (auth failures excluded), the longest request, and the time from
the change until the new version or config serves.

7 (recycle): PSS of the proxy's processes over N requests (wrk, keep-alive), without and with
worker recycling.
"""

import json
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "test"))

import loadgen  # noqa: E402
from helpers import DEFAULT_MODEL_TAG, http  # noqa: E402

BEFORE_REV = "3a63f6f"  # 0.3.0: the port bound by the proxy, pip upgrades in place
SERVICE = "litellm"
MODEL = "bench"
CACHE = pathlib.Path("/var/cache/litellm-formula")


class Formula:
    """One formula tree deployed with salt-call --local from its own minion config."""

    def __init__(self, label, root, work, key, port, backends):
        self.label, self.root, self.key, self.port, self.backends = label, root, key, port, backends
        self.work = work / label.split()[0]
        for sub in ("conf", "pillar"):
            (self.work / sub).mkdir(parents=True)
        (self.work / "conf" / "minion").write_text(json.dumps({
            "file_client": "local", "id": "bench", "root_dir": str(self.work / "root"),
            "file_roots": {"base": [str(root)]}, "pillar_roots": {"base": [str(self.work / "pillar")]}}))
        (self.work / "pillar" / "top.sls").write_text(json.dumps({"base": {"*": ["litellm"]}}))
        self.salt_call = [str(pathlib.Path(sys.executable).parent / "salt-call"), "-c", str(self.work / "conf"),
                          "--local", "--out=json", "--retcode-passthrough"]
        subprocess.run(self.salt_call + ["saltutil.sync_all"], capture_output=True, check=True)

    def pillar(self, **extra):
        data = {"master_key": self.key, "bind_host": "127.0.0.1", "bind_port": self.port, "backends": self.backends,
                "models": [{"name": MODEL, "provider": "ollama", "model": DEFAULT_MODEL_TAG}],
                "pip": {"find_links": [str(CACHE / "wheels")], "no_index": True}, **extra}
        (self.work / "pillar" / "litellm.sls").write_text("#!yaml\n" + json.dumps({"litellm": data}))

    def apply(self, sls="litellm"):
        ret = subprocess.run(self.salt_call + ["state.apply", sls], capture_output=True, text=True)
        return ret.returncode == 0, ret.stdout + ret.stderr


def main_pid():
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", f"{SERVICE}.service"],
                         capture_output=True, text=True).stdout.strip()
    return int(out or 0)


def serves(port, key, model=MODEL):
    try:
        status, _, body = http("GET", f"http://127.0.0.1:{port}/v1/models",
                               headers={"Authorization": f"Bearer {key}"}, timeout=2)
        return status == 200 and model in {m["id"] for m in json.loads(body)["data"]}
    except (OSError, ValueError, KeyError):
        return False


def under_load(formula, change, served, limit=240):
    """Run ``change()`` under load; returns (summary, seconds until ``served()``, change's output)."""
    stop, box = threading.Event(), {}
    thread = threading.Thread(target=lambda: box.update(s=loadgen.run(
        formula.port, formula.key, MODEL, 8, 900, stream="mixed", stop=stop)))
    thread.start()
    time.sleep(3)
    started = time.monotonic()
    out = change()
    took = None
    while time.monotonic() - started < limit:
        if served():
            took = time.monotonic() - started
            break
        time.sleep(0.2)
    time.sleep(3)
    stop.set()
    thread.join(60)
    return box["s"], took, out


def scenarios(formula, version_from, version_to, bad):
    """(name, pillar before, change) for each change; pillar before is applied without load first."""
    base = {"version": version_to}

    def applied(**extra):
        def change():
            formula.pillar(**{**base, **extra})
            return formula.apply()
        return change

    def systemctl(*args):
        return lambda: subprocess.run(["systemctl", *args, f"{SERVICE}.service"], capture_output=True, text=True)

    added = {"models": [{"name": MODEL, "provider": "ollama", "model": DEFAULT_MODEL_TAG},
                        {"name": "added", "provider": "ollama", "model": DEFAULT_MODEL_TAG}]}
    # The bad upgrade last: 0.3.0 leaves the proxy broken (its next apply does not reinstall uvicorn).
    return [
        (f"version upgrade {version_from} -> {version_to}", {"version": version_from}, applied(), "version"),
        ("config change (a model added)", {}, applied(**added), "added"),
        ("systemctl restart", {}, systemctl("restart"), "restart"),
        ("SIGKILL of the main process", {}, systemctl("kill", "-s", "KILL", "--kill-whom=main"), "restart"),
        ("bad upgrade (uvicorn 0.19.0: no worker boots)", {}, applied(**bad), "bad"),
    ]


def run_changes(formula, version_from, version_to, bad, results):
    for name, setup, change, wait in scenarios(formula, version_from, version_to, bad):
        formula.pillar(**{"version": version_to, **setup})
        ok, out = formula.apply()
        if not ok:
            results[("changes", formula.label, name)] = ("setup failed: " + out[-300:], None, None)
            continue
        pid = main_pid()

        def served(wait=wait, pid=pid):
            if wait == "added":
                return serves(formula.port, formula.key, "added")
            if wait == "bad":
                return False  # nothing new is ever meant to serve; the window is the change itself
            return main_pid() not in (0, pid) and serves(formula.port, formula.key)

        summary, took, out = under_load(formula, change, served, limit=5 if wait == "bad" else 240)
        outcome = out[0] if isinstance(out, tuple) else None
        if wait == "bad":
            took = ("the apply failed; the old release still serves" if serves(formula.port, formula.key)
                    else "the apply failed; nothing serves")
        results[("changes", formula.label, name)] = (summary, took, outcome)
    # Whatever the last change left, the next formula starts from a clean host.
    formula.pillar(version=version_to)
    formula.apply()
    formula.apply("litellm.clean")


def part_changes(args, backends, key, port, results):
    work = pathlib.Path(tempfile.mkdtemp(prefix="litellm-changes.", dir="/var/tmp"))
    before_root = work / "before-tree"
    before_root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE_REV], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive.stdout, check=True)
    wheel = CACHE / "wheels" / "uvicorn-0.19.0-py3-none-any.whl"
    digest = subprocess.run(["sha256sum", str(wheel)], capture_output=True, text=True, check=True).stdout.split()[0]
    version_to = args_version()
    version_from = previous_version()
    lock = (REPO / f"litellm/files/default/locks/litellm-{version_to}.txt").read_text()
    bad_lock = work / "bad-lock.txt"
    bad_lock.write_text(re.sub(r"(?m)^uvicorn==.*$", f"uvicorn==0.19.0 --hash=sha256:{digest}", lock))
    before = Formula(f"before ({BEFORE_REV}, 0.3.0)", before_root, work, key, port, backends)
    after = Formula("after (this formula)", REPO, work, key, port, backends)
    defaults = ["prisma==0.15.0", "httptools==0.9.0"]
    run_changes(before, version_from, version_to, {"extra_pip_packages": defaults + ["uvicorn==0.19.0"],
                                                   "startup_timeout": 30}, results)
    run_changes(after, version_from, version_to, {"lock_file": str(bad_lock), "startup_timeout": 30}, results)
    results["changes_labels"] = [before.label, after.label]
    results["changes_names"] = [s[0] for s in scenarios(after, version_from, version_to, {})]


def report_changes(results, add):
    labels = results.get("changes_labels") or []
    for name in results.get("changes_names") or []:
        rows = {}
        for label in labels:
            summary, took, outcome = results.get(("changes", label, name), (None, None, None))
            if not isinstance(summary, loadgen.Summary):
                add("6 changes under load", f"{name}: {label}", summary or "not run", "")
                continue
            failed = [o for o in summary.failed if o.what != "HTTP 401"]
            serve = took if isinstance(took, str) else ("never" if took is None else f"{took:.1f} s")
            rows[label] = (len(failed), summary.longest)
            add("6 changes under load", f"{name}: {label}",
                f"{len(failed)}/{summary.sent} failed, longest {summary.longest:.1f} s, serves after {serve}"
                + (", apply failed" if outcome is False else ""), "")
        if len(rows) == 2:
            (b_failed, b_long), (a_failed, a_long) = rows[labels[0]], rows[labels[1]]
            add("6 changes under load", f"{name}: after vs before", "",
                f"failed {a_failed} vs {b_failed}, longest {a_long:.1f} vs {b_long:.1f} s")


# --- 7: worker recycling ------------------------------------------------------------------------

def cgroup_pss_mb(unit=SERVICE):
    group = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", f"{unit}.service"],
                           capture_output=True, text=True).stdout.strip()
    procs = None
    for base in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        path = pathlib.Path(base + group) / "cgroup.procs"
        if group and path.exists():
            procs = [int(p) for p in path.read_text().split()]
            break
    total = 0
    for pid in procs or []:
        try:
            total += int(re.search(r"Pss:\s+(\d+)", pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()).group(1))
        except (OSError, AttributeError):
            pass
    return total / 1024, len(procs or [])


def wrk_chat(port, key, seconds, work):
    script = work / "chat.lua"
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Say hello in five words."}]})
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                      'wrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/v1/chat/completions"], capture_output=True, text=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return int(re.search(r"(\d+) requests in", out).group(1)), int(bad.group(1)) if bad else 0


def part_recycle(args, backends, key, port, results):
    work = pathlib.Path(tempfile.mkdtemp(prefix="litellm-recycle.", dir="/var/tmp"))
    formula = Formula("recycle", REPO, work, key, port, backends)
    settings = [("off", {}), (f"{args.recycle_every} +- {args.recycle_every // 10}",
                              {"max_requests_before_restart": args.recycle_every,
                               "max_requests_before_restart_jitter": args.recycle_every // 10})]
    for label, extra in settings:
        formula.pillar(**extra)
        ok, out = formula.apply()
        if not ok:
            results[("recycle", label)] = "apply failed: " + out[-300:]
            continue
        wrk_chat(port, key, 10, work)  # warm-up: every worker has served
        rows, total, errors = [(0, *cgroup_pss_mb())], 0, 0
        while total < args.recycle_requests:
            done, bad = wrk_chat(port, key, 30, work)
            total, errors = total + done, errors + bad
            rows.append((total, *cgroup_pss_mb()))
        results[("recycle", label)] = (rows, errors)
    formula.apply("litellm.clean")
    results["recycle_labels"] = [label for label, _ in settings]


def report_recycle(results, add):
    for label in results.get("recycle_labels") or []:
        got = results.get(("recycle", label))
        if isinstance(got, str):
            add("7 worker recycling", label, got, "")
            continue
        rows, errors = got
        first, last = rows[0], rows[-1]
        add("7 worker recycling", f"max_requests_before_restart {label}",
            f"PSS {first[1]:.0f} MB after warm-up -> {last[1]:.0f} MB after {last[0]:,} requests "
            f"({errors} non-2xx)", f"x{last[1] / first[1]:.2f}; samples: "
            + ", ".join(f"{n // 1000}k {mb:.0f}" for n, mb, _ in rows[1::max(1, len(rows) // 6)]))


def args_version():
    text = (REPO / "litellm/parameters/defaults.yaml").read_text()
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("version:"))


def previous_version():
    text = (REPO / "requirements-litellm.txt").read_text()
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# previous:"))
