"""
States for a LiteLLM proxy deployed by litellm-formula.

The checks themselves live in the ``litellm`` execution module; these functions only decide,
wait and report.
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "litellm"


def __virtual__():
    if "litellm.proxy_status" not in __salt__:
        return False, "litellm: the litellm execution module is not loaded (run saltutil.sync_all)"
    return __virtualname__


def healthy(name, timeout=120, interval=1):
    """
    Wait, at most ``timeout`` seconds, until the deployed proxy answers and serves every deployed
    model with the master key from its environment file (the deployment record says where and
    which). Fails with the last check's detail and the last journal lines of the service. The formula
    runs it on every apply, so a proxy that runs but does not serve fails the apply. Under
    ``test=True`` it checks once and waits for nothing: True when the proxy serves now, None (it
    would wait) when not.

    name
        The service name (its deployment record, its journal).

    .. code-block:: yaml

        litellm-proxy-healthy:
          litellm.healthy:
            - name: litellm
            - timeout: 120
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if __opts__["test"]:
        try:
            report = __salt__["litellm.proxy_status"](timeout=min(5, max(1, timeout)), name=name)
        except CommandExecutionError as exc:  # not deployed yet
            report = {"ok": False, "problem": str(exc)}
        if report["ok"]:
            ret["comment"] = f"Proxy at {report['url']} serves every model"
        else:
            ret["result"] = None
            ret["comment"] = (f"Would wait up to {timeout}s for the proxy of {name} to serve every model "
                              f"(now: {report['problem']})")
        return ret
    deadline = time.monotonic() + float(timeout)
    started = time.monotonic()
    while True:
        report = __salt__["litellm.proxy_status"](timeout=min(5, max(1, timeout)), name=name)
        if report["ok"]:
            waited = time.monotonic() - started
            ret["comment"] = (f"Proxy at {report['url']} serves {len(report['models']['served'])} model(s) "
                              f"(ready after {waited:.1f}s)")
            return ret
        if time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    problem = report["problem"]
    journal = __salt__["litellm.journal_tail"](name=name, lines=20)
    # A server's banner and retries can push the one line that says why out of the tail.
    errors = __salt__["litellm.journal_tail"](name=name, lines=300, errors_only=True)
    ret["result"] = False
    ret["comment"] = (f"Not healthy after {timeout}s: {problem}\nError lines in the journal of {name}:\n"
                      f"{errors or '(none)'}\nLast journal lines of {name}:\n{journal}")
    return ret


def _key_file_call(ret, function, path):
    """Call the key-file function; on a refusal (bad key, not the formula's file) fail ``ret``."""
    try:
        return __salt__[function](path, test=__opts__["test"])
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return None


def master_key_managed(name):
    """
    Make sure the master-key environment file ``name`` holds the key pillar gives
    (``litellm:master_key``; an ``sdb://`` URI is resolved once per apply, so the value written is
    the value validated). Written atomically, root only; the state return carries fingerprints,
    never the key.

    .. code-block:: yaml

        litellm-master-key:
          litellm.master_key_managed:
            - name: /etc/litellm/master_key.env
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    outcome = _key_file_call(ret, "litellm.write_master_key", name)
    if outcome is None:
        return ret
    if outcome["changed"] is False:
        ret["comment"] = f"{name} holds the master key from pillar (fingerprint {outcome['new']})"
        return ret
    ret["changes"] = {"master_key": {"old": outcome["old"], "new": outcome["new"]}}
    if outcome["changed"] is None:
        ret["result"] = None
        ret["comment"] = f"Would write the master key from pillar to {name} (fingerprint {outcome['new']})"
    else:
        ret["comment"] = f"Wrote the master key from pillar to {name} (fingerprint {outcome['new']})"
    return ret


def master_key_generated(name):
    """
    Make sure the master-key environment file ``name`` holds a key, generating one with a CSPRNG on
    the first apply (``master_key_source: generate``). An existing key is never replaced: rotate it
    with ``litellm.rotate_master_key`` or the ``litellm.master_key_rotated`` state.

    .. code-block:: yaml

        litellm-master-key:
          litellm.master_key_generated:
            - name: /etc/litellm/master_key.env
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    outcome = _key_file_call(ret, "litellm.ensure_generated_master_key", name)
    if outcome is None:
        return ret
    if outcome["created"] is None:
        ret["result"] = None
        ret["changes"] = {"master_key": "generated"}
        ret["comment"] = f"Would generate a master key in {name}"
    elif outcome["created"]:
        ret["changes"] = {"master_key": "generated", "fingerprint": outcome["fingerprint"]}
        ret["comment"] = f"Generated a master key in {name} (fingerprint {outcome['fingerprint']})"
    else:
        ret["comment"] = f"{name} holds a master key (fingerprint {outcome['fingerprint']}); kept"
    return ret


def master_key_rotated(name, max_age="30d", force=False):
    """
    Rotate the master key (see ``litellm.rotate_master_key``) when it is older than ``max_age``
    (``30d``, ``12h``, ``90m``, ``2w`` or seconds) or when ``force`` is true; otherwise change nothing.
    Under ``test=True`` it says what it would do. A key from plain pillar cannot be rotated here.

    name
        The service name (its deployment record).

    .. code-block:: yaml

        litellm-master-key-monthly:
          litellm.master_key_rotated:
            - name: litellm
            - max_age: 30d
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        age = __salt__["litellm.master_key_age"](max_age=max_age, name=name)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if not force and not age["due"]:
        ret["comment"] = f"Master key {age['fingerprint']} is {age['age']} old, within max_age {max_age}"
        return ret
    reason = "forced" if force else f"{age['age']} old, over max_age {max_age}"
    if age["source"] == "pillar":
        ret["result"] = False
        ret["comment"] = f"Master key {age['fingerprint']} should rotate ({reason}), but it comes from pillar: " \
                         "rotate it in the secret store and apply litellm"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {"master_key": {"old": age["fingerprint"], "new": "(new key)"}}
        ret["comment"] = f"Would rotate master key {age['fingerprint']} ({reason})"
        return ret
    outcome = __salt__["litellm.rotate_master_key"](name=name)
    if outcome["result"]:
        ret["changes"] = {"master_key": {"old": outcome["previous_fingerprint"], "new": outcome["fingerprint"]}}
        ret["comment"] = f"Rotated master key ({reason}) in {outcome['duration_s']}s"
    else:
        ret["result"] = False
        ret["comment"] = outcome["comment"]
    return ret


def _from_module(name, function, **kwargs):
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        return ret, __salt__[function](test=__opts__["test"], **kwargs)
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret, None


def venv_built(name):
    """
    Make sure the virtualenv ``name`` (``<install_dir>/venvs/<version>-<lock digest>``, the one the
    pillar asks for) is built from the hash lock with ``pip --require-hashes``. A wheel whose hash
    the lock does not hold is refused and named. The proxy's running virtualenv is not touched.

    .. code-block:: yaml

        litellm-venv:
          litellm.venv_built:
            - name: /opt/litellm/venvs/1.108.7-0123456789ab
    """
    ret, outcome = _from_module(name, "litellm.build_venv")
    if outcome is None:
        return ret
    if outcome["venv"] != name:
        ret["result"] = False
        ret["comment"] = f"{name} is not the virtualenv this pillar runs ({outcome['venv']})"
        return ret
    ret["comment"] = outcome["comment"]
    if outcome["changed"] is None:
        ret["result"] = None
        ret["changes"] = {"venv": "would be built from the lock"}
    elif not outcome["ok"]:
        ret["result"] = False
    elif outcome["changed"]:
        ret["changes"] = {"venv": "built from the lock"}
    return ret


def venv_switched(name):
    """
    Make sure the link ``name`` (``<install_dir>/current``, what the unit runs) points at the
    virtualenv this pillar runs, switched atomically only after that virtualenv's LiteLLM accepted
    ``config.yaml``. The old target becomes ``<install_dir>/previous``. Watch it to restart.

    .. code-block:: yaml

        litellm-venv-switched:
          litellm.venv_switched:
            - name: /opt/litellm/current
    """
    ret, outcome = _from_module(name, "litellm.switch_venv")
    if outcome is None:
        return ret
    ret["comment"] = outcome["comment"]
    if not outcome["ok"]:
        ret["result"] = False
    elif outcome["changed"] is None:
        ret["result"] = None
        ret["changes"] = {"current": {"old": outcome["old"], "new": outcome["new"]}}
    elif outcome["changed"]:
        ret["changes"] = {"current": {"old": outcome["old"], "new": outcome["new"]}}
    return ret


def venv_rolled_back(name, to=None, timeout=120):
    """
    Run on a failed health gate (``onfail``): when the apply switched ``name``
    (``<install_dir>/current``) away from ``to``, point it back, restart, wait for the proxy and fail
    saying "rolled back to ...". When the apply switched nothing it succeeds without changes (the
    failed health gate fails the apply already).

    .. code-block:: yaml

        litellm-venv-rolled-back:
          litellm.venv_rolled_back:
            - name: /opt/litellm/current
            - to: /opt/litellm/venvs/1.108.6-0123456789ab
            - onfail:
              - litellm: litellm-proxy-healthy
    """
    ret, outcome = _from_module(name, "litellm.roll_back_venv", to=to, timeout=timeout)
    if outcome is None:
        return ret
    ret["comment"] = outcome["comment"]
    if outcome["rolled_back"] is None:
        ret["result"] = None
        ret["changes"] = {"current": {"old": "this apply's", "new": to}}
    elif outcome["rolled_back"]:
        ret["result"] = False
        ret["changes"] = {"current": {"old": outcome["from"], "new": outcome["to"]}}
    else:
        ret["result"] = True
    return ret


def venvs_pruned(name):
    """
    Remove the virtualenvs under ``name`` (``<install_dir>``) other than the current and the
    previous one, once the proxy serves.

    .. code-block:: yaml

        litellm-venvs-pruned:
          litellm.venvs_pruned:
            - name: /opt/litellm
    """
    ret, outcome = _from_module(name, "litellm.prune_venvs")
    if outcome is None:
        return ret
    if outcome["changed"] is False:
        ret["comment"] = "Only the current and the previous virtualenv are kept: nothing to remove"
        return ret
    ret["changes"] = {"removed": outcome["removed"]}
    if outcome["changed"] is None:
        ret["result"] = None
        ret["comment"] = "Would remove " + ", ".join(outcome["removed"])
    else:
        ret["comment"] = "Removed " + ", ".join(outcome["removed"])
    return ret


def socket_bound(name):
    """
    Bind the socket unit ``name`` again (``systemctl restart``): its listening settings changed, and
    the service that inherited the old socket is stopped first. Fails with the socket's journal lines
    when it cannot bind (an address in use, an address the host does not have).

    .. code-block:: yaml

        litellm-socket-bound:
          litellm.socket_bound:
            - name: litellm.socket
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {"socket": "would be bound again"}
        ret["comment"] = f"Would bind {name} again (its address or queue changed)"
        return ret
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    out = __salt__["cmd.run_all"](["systemctl", "restart", name], python_shell=False, ignore_retcode=True)
    if out["retcode"] != 0:
        journal = __salt__["cmd.run_all"](["journalctl", "--no-pager", "-o", "cat", "-u", name, "--since", since],
                                          python_shell=False, ignore_retcode=True)["stdout"]
        ret["result"] = False
        ret["comment"] = f"{name} could not listen: {(journal or out['stderr']).strip()[-800:]}"
        return ret
    ret["changes"] = {"socket": "bound again"}
    ret["comment"] = f"{name} listens with its new settings"
    return ret


def unit_reset(name):
    """
    Clear the failed state and the start-rate counter of the systemd unit ``name`` (without
    ``.service``), so that the start or restart that follows is not refused after a crash loop or a
    burst of applies. Reports a change only when the unit was in the failed state.

    .. code-block:: yaml

        litellm-unit-reset:
          litellm.unit_reset:
            - name: litellm
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    unit = f"{name}.service"
    failed = __salt__["cmd.retcode"](["systemctl", "is-failed", "--quiet", unit], python_shell=False,
                                     ignore_retcode=True) == 0
    if __opts__["test"]:
        ret["result"] = None if failed else True
        ret["comment"] = f"Would reset the failed state of {unit}" if failed else f"{unit} is not failed"
        return ret
    # Also when not failed: it zeroes the start-rate counter that restarts by Salt count against.
    __salt__["cmd.run_all"](["systemctl", "reset-failed", unit], python_shell=False, ignore_retcode=True)
    if failed:
        ret["changes"] = {"unit": "failed -> reset"}
        ret["comment"] = f"Reset the failed state of {unit}"
    else:
        ret["comment"] = f"{unit} is not failed; start-rate counter cleared"
    return ret


def _describe(entries):
    return ", ".join(f"{e['kind']} {e['name']} ({e['how']})" for e in entries)


def ownership_recorded(name, mode="claim", entries=None):
    """
    Keep the service's ledger of what the formula owns. ``mode: claim`` (first in an apply):
    record what the apply will create and what pillar adopts, before any of it is created (fails,
    changing nothing, when pillar would take over something the formula does not own).
    ``mode: confirm`` (last in an apply): drop what an apply that failed never created.
    ``mode: clean`` (last in ``litellm.clean``, with the ``entries`` its render saw): keep only what
    still exists (an account clean kept) and remove the ledger when nothing is left.

    name
        The service name (the ledger is ``/var/lib/litellm-formula/<name>.owned``).

    .. code-block:: yaml

        litellm-ownership-recorded:
          litellm.ownership_recorded:
            - name: litellm
            - mode: claim
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        outcome = __salt__["litellm.record_ownership"](mode=mode, entries=entries, test=__opts__["test"])
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if not outcome["changed"]:
        ret["comment"] = f"The ledger {outcome['ledger']} is up to date"
        return ret
    changes = {key: _describe(outcome[key]) for key in ("added", "dropped") if outcome[key]}
    ret["changes"] = changes or {"ledger": "removed"}
    verb = "Would record" if __opts__["test"] else "Recorded"
    ret["comment"] = f"{verb} in {outcome['ledger']}: " + "; ".join(f"{k} {v}" for k, v in ret["changes"].items())
    if __opts__["test"]:
        ret["result"] = None
    return ret


def secret_file_managed(name, content):
    """
    Make sure the formula's root-only file ``name`` holds ``content`` as pillar makes it:
    ``environment`` (the service's environment file, with ``environment`` values and the secrets
    moved out of ``extra_config``) or ``pip_config`` (``pip.conf`` with every package source, index
    credentials included). ``sdb://`` values are resolved once per apply. The return names what
    changed (variable names), never a value, and shows no diff.

    .. code-block:: yaml

        litellm-environment:
          litellm.secret_file_managed:
            - name: /etc/litellm/litellm.env
            - content: environment
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    try:
        outcome = __salt__["litellm.write_secret_file"](content, name, test=__opts__["test"])
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if outcome["changed"] is False:
        ret["comment"] = f"{name} is up to date (root only, 0600)"
        return ret
    ret["changes"] = {"changed": outcome["names"] or ["mode or owner"], "values": "hidden"}
    if outcome["changed"] is None:
        ret["result"] = None
        ret["comment"] = f"Would write {name} (root only, 0600): {', '.join(ret['changes']['changed'])}"
    else:
        ret["comment"] = f"Wrote {name} (root only, 0600): {', '.join(ret['changes']['changed'])}"
    return ret
