"""
States for a LiteLLM proxy deployed by litellm-formula.

The checks themselves live in the ``litellm`` execution module; these functions only decide,
wait and report.
"""

import time

__virtualname__ = "litellm"


def __virtual__():
    if "litellm.proxy_status" not in __salt__:
        return False, "litellm: the litellm execution module is not loaded (run saltutil.sync_all)"
    return __virtualname__


def healthy(name, timeout=120, interval=1, tplroot="litellm"):
    """
    Wait, at most ``timeout`` seconds, until the local proxy answers and serves every configured
    model with the master key from its environment file. Fails with the last check's detail and the
    last journal lines of the service. Under ``test=True`` nothing waits.

    name
        The service name (for the journal lines).

    .. code-block:: yaml

        litellm-proxy-healthy:
          litellm.healthy:
            - name: litellm
            - timeout: 120
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"Would wait up to {timeout}s for the proxy of {name} to serve every model"
        return ret
    deadline = time.monotonic() + float(timeout)
    started = time.monotonic()
    while True:
        report = __salt__["litellm.proxy_status"](tplroot=tplroot, timeout=min(5, max(1, timeout)))
        if report["ok"]:
            waited = time.monotonic() - started
            ret["comment"] = (f"Proxy at {report['url']} serves {len(report['models']['served'])} model(s) "
                              f"(ready after {waited:.1f}s)")
            return ret
        if time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    problem = report["problem"]
    journal = __salt__["litellm.journal_tail"](name=name, lines=20, tplroot=tplroot)
    ret["result"] = False
    ret["comment"] = f"Not healthy after {timeout}s: {problem}\nLast journal lines of {name}:\n{journal}"
    return ret
