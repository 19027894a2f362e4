"""Nothing in pillar can damage the host: every pillar that would create, re-own or remove what the
formula does not own is refused before any change, by the schema (paths, names) or by the ownership
rules against the host (takeovers). README's "Refused before any change" table lists every case
here by its name; a test keeps the two in step."""

import re

import pytest
import yaml
from helpers import REPO

from litellm_formula import ownership, schema

DEFAULTS = yaml.safe_load((REPO / "litellm/parameters/defaults.yaml").read_text())["values"]
MODEL = {"name": "phi3-3.8b", "provider": "ollama", "model": "phi3:3.8b-mini-128k-instruct-q8_0"}


def merged(**pillar):
    pillar.setdefault("models", [MODEL])
    return schema.merge_settings(DEFAULTS, {}, pillar)


# (case, pillar, the key the error names): refused by the schema alone, on any host.
SCHEMA_REFUSED = [
    ("install_dir /usr", {"install_dir": "/usr"}, "install_dir"),
    ("install_dir /", {"install_dir": "/"}, "install_dir"),
    ("install_dir /opt itself", {"install_dir": "/opt"}, "install_dir"),
    ("install_dir /usr/local", {"install_dir": "/usr/local"}, "install_dir"),
    ("install_dir /usr/lib/python3", {"install_dir": "/usr/lib/python3"}, "install_dir"),
    ("install_dir in a home", {"install_dir": "/home/alice/litellm"}, "install_dir"),
    ("install_dir with ..", {"install_dir": "/opt/../usr/litellm"}, "install_dir"),
    ("install_dir another product's", {"install_dir": "/opt/google"}, "install_dir"),
    ("install_dir with shell characters", {"install_dir": "/opt/litellm; rm -rf /"}, "install_dir"),
    ("install_dir relative", {"install_dir": "opt/litellm"}, "install_dir"),
    ("config_dir /etc", {"config_dir": "/etc"}, "config_dir"),
    ("config_dir /etc/ssh", {"config_dir": "/etc/ssh"}, "config_dir"),
    ("config_dir inside /etc/systemd", {"config_dir": "/etc/systemd/system/litellm"}, "config_dir"),
    ("config_dir /root/litellm", {"config_dir": "/root/litellm"}, "config_dir"),
    ("config_dir /tmp/litellm", {"config_dir": "/tmp/litellm"}, "config_dir"),
    ("state_dir /var/lib/dpkg", {"state_dir": "/var/lib/dpkg"}, "state_dir"),
    ("state_dir /var/lib", {"state_dir": "/var/lib"}, "state_dir"),
    ("state_dir the formula's records", {"state_dir": "/var/lib/litellm-formula"}, "state_dir"),
    ("state_dir outside /var/lib", {"state_dir": "/srv/litellm"}, "state_dir"),
    ("state_dir /var/lib/systemd", {"state_dir": "/var/lib/systemd"}, "state_dir"),
    ("service_user root", {"service_user": "root"}, "service_user"),
    ("service_user nobody", {"service_user": "nobody"}, "service_user"),
    ("service_user www-data", {"service_user": "www-data"}, "service_user"),
    ("service_user systemd-network", {"service_user": "systemd-network"}, "service_user"),
    ("service_user sshd", {"service_user": "sshd"}, "service_user"),
    ("service_group sudo", {"service_group": "sudo"}, "service_group"),
    ("service_group adm", {"service_group": "adm"}, "service_group"),
    ("service_group shadow", {"service_group": "shadow"}, "service_group"),
    ("service_name ssh", {"service_name": "ssh"}, "service_name"),
    ("service_name systemd-journald", {"service_name": "systemd-journald"}, "service_name"),
    ("service_name salt-minion", {"service_name": "salt-minion"}, "service_name"),
    ("service_name a template instance", {"service_name": "litellm@x"}, "service_name"),
    ("service_name with .service", {"service_name": "litellm.service"}, "service_name"),
    ("service_name a path", {"service_name": "../../etc/passwd"}, "service_name"),
    ("python with a shell command", {"python": "/usr/bin/python3; touch /tmp/x"}, "python"),
    ("python relative", {"python": "python3"}, "python"),
    ("adopt something not adoptable", {"adopt": ["pkgs"]}, "adopt"),
]


@pytest.mark.parametrize(("case", "pillar", "key"), SCHEMA_REFUSED, ids=[c[0] for c in SCHEMA_REFUSED])
def test_the_schema_refuses_what_could_damage_the_host(case, pillar, key):
    errors = schema.validate_settings(merged(**pillar))
    assert any(error.startswith(f"litellm:{key}:") for error in errors), errors


def test_own_directories_named_after_the_service_are_accepted():
    for pillar in ({}, {"install_dir": "/srv/litellm"}, {"install_dir": "/usr/local/lib/litellm-prod",
                                                         "config_dir": "/usr/local/etc/litellm-prod/"},
                   {"service_name": "llmproxy", "service_user": "llmproxy", "service_group": "llmproxy"},
                   {"adopt": ["service_user", "install_dir"]}):
        assert schema.validate_settings(merged(**pillar)) == [], pillar


def test_empty_directories_follow_the_service_name():
    settings = merged(service_name="llmproxy")
    assert (settings["install_dir"], settings["config_dir"], settings["state_dir"]) == (
        "/opt/llmproxy", "/etc/llmproxy", "/var/lib/llmproxy")


class FakeHost:
    """What the ownership rules read from a host, described by hand."""

    def __init__(self, users=None, groups=None, units=None, dirs=(), files=(), links=(), mounts=(), packages=None):
        self.users, self.groups = users or {}, groups or {}
        self.units = units or {}  # unit name -> path
        self.dirs, self.files, self.links, self.mounts = set(dirs), set(files), set(links), set(mounts)
        self.packages = packages or {}

    def lexists(self, path):
        return path in self.dirs | self.files | self.links | set(self.units.values())

    def islink(self, path):
        return path in self.links

    def isdir(self, path):
        return path in self.dirs

    def ismount(self, path):
        return path in self.mounts

    def user_id(self, name):
        return self.users.get(name)

    def group_id(self, name):
        return self.groups.get(name)

    def unit_file(self, unit):
        return self.units.get(unit)

    def package_owner(self, path):
        return self.packages.get(path)


UNIT = "/etc/systemd/system/litellm.service"
# (case, host, adopt, the key the error names): refused against what the host holds.
HOST_REFUSED = [
    ("an existing account, not adopted", FakeHost(users={"litellm": 998}), [], "service_user"),
    ("an existing group, not adopted", FakeHost(groups={"litellm": 998}), [], "service_group"),
    ("an existing unit, not adopted", FakeHost(units={"litellm.service": UNIT}), [], "service_name"),
    ("an existing install_dir, not adopted", FakeHost(dirs={"/opt/litellm"}), [], "install_dir"),
    ("an existing config_dir, not adopted", FakeHost(dirs={"/etc/litellm"}), [], "config_dir"),
    ("an existing state_dir, not adopted", FakeHost(dirs={"/var/lib/litellm"}), [], "state_dir"),
    ("a distribution account, even adopted", FakeHost(users={"litellm": 33}), ["service_user"], "service_user"),
    ("a distribution group, even adopted", FakeHost(groups={"litellm": 4}), ["service_group"], "service_group"),
    ("a unit a package ships, even adopted",
     FakeHost(units={"litellm.service": "/lib/systemd/system/litellm.service"}), ["service_name"], "service_name"),
    ("a unit file a package owns, even adopted", FakeHost(units={"litellm.service": UNIT}, packages={UNIT: "llm"}),
     ["service_name"], "service_name"),
    ("a directory a package owns, even adopted", FakeHost(dirs={"/etc/litellm"}, packages={"/etc/litellm": "litellm"}),
     ["config_dir"], "config_dir"),
    ("a symbolic link, even adopted", FakeHost(links={"/opt/litellm"}), ["install_dir"], "install_dir"),
    ("a mount point, even adopted", FakeHost(dirs={"/var/lib/litellm"}, mounts={"/var/lib/litellm"}), ["state_dir"],
     "state_dir"),
    ("a file where a directory goes, even adopted", FakeHost(files={"/etc/litellm"}), ["config_dir"], "config_dir"),
    ("a unit alias or masked unit (a link), even adopted", FakeHost(units={"litellm.service": UNIT}, links={UNIT}),
     ["service_name"], "service_name"),
    ("a person's account, even adopted", FakeHost(users={"litellm": 1000}), ["service_user"], "service_user"),
    ("an account not named after the service, even adopted",
     FakeHost(users={"mysql": 120}), ["service_user"], "service_user"),
]


@pytest.mark.parametrize(("case", "host", "adopt", "key"), HOST_REFUSED, ids=[c[0] for c in HOST_REFUSED])
def test_a_takeover_is_refused_naming_the_key(case, host, adopt, key):
    pillar = {"service_user": "mysql"} if "not named after" in case else {}
    problems = ownership.problems(merged(adopt=adopt, **pillar), {}, host)
    assert any(p.startswith(f"litellm:{key}:") for p in problems), problems
    assert len(problems) == 1, problems


def test_what_another_service_owns_is_refused():
    ledgers = {"other": {"dir:/etc/litellm": {"kind": "dir", "name": "/etc/litellm", "key": "config_dir"}}}
    problems = ownership.problems(merged(adopt=["config_dir"]), ledgers, FakeHost(dirs={"/etc/litellm"}))
    assert problems == ["litellm:config_dir: the directory /etc/litellm belongs to the formula's deployment of "
                        "other; give this service its own config_dir"]


def test_nothing_there_or_all_owned_or_adopted_proceeds():
    settings = merged()
    assert ownership.problems(settings, {}, FakeHost()) == []
    everything = FakeHost(users={"litellm": 998}, groups={"litellm": 998}, units={"litellm.service": UNIT},
                          dirs={"/opt/litellm", "/etc/litellm", "/var/lib/litellm"})
    assert ownership.problems(merged(adopt=list(schema.ADOPTABLE)), {}, everything) == []
    claimed = ownership.claim(merged(adopt=list(schema.ADOPTABLE)), {}, everything)
    ledgers = {"litellm": {f"{e['kind']}:{e['name']}": e for e in claimed["owned"]}}
    assert ownership.problems(settings, ledgers, everything) == []  # owned now: no adopt needed


def test_the_ledger_says_what_was_created_and_what_adopted_and_keeps_earlier_directories():
    host = FakeHost(users={"litellm": 998}, dirs={"/etc/litellm-old"})
    first = ownership.claim(merged(adopt=["service_user"]), {}, host)
    how = {(e["kind"], e["name"]): e["how"] for e in first["owned"]}
    assert how == {("user", "litellm"): "adopted", ("group", "litellm"): "created", ("unit", UNIT): "created",
                   ("unit", "/etc/systemd/system/litellm.socket"): "created",
                   ("dir", "/opt/litellm"): "created", ("dir", "/etc/litellm"): "created",
                   ("dir", "/var/lib/litellm"): "created"}
    # The config_dir moves; the old one, created by the formula and still there, stays listed.
    ledgers = {"litellm": {f"{e['kind']}:{e['name']}": e for e in first["owned"]}}
    ledgers["litellm"]["dir:/etc/litellm-old"] = {"kind": "dir", "name": "/etc/litellm-old", "key": "config_dir",
                                                  "how": "created"}
    second = ownership.claim(merged(config_dir="/etc/litellm-new"), ledgers, host)
    names = {e["name"] for e in second["owned"]}
    assert {"/etc/litellm-old", "/etc/litellm-new"} <= names
    assert "/etc/litellm" not in names  # listed, but gone and no longer in pillar: dropped


def test_clean_removes_only_the_ledger_and_says_what_it_leaves():
    owned = {"dir:/opt/litellm": {"kind": "dir", "name": "/opt/litellm", "key": "install_dir"},
             "dir:/etc/litellm-old": {"kind": "dir", "name": "/etc/litellm-old", "key": "config_dir"},
             f"unit:{UNIT}": {"kind": "unit", "name": UNIT, "key": "service_name"},
             "user:litellm": {"kind": "user", "name": "litellm", "key": "service_user"}}
    host = FakeHost(users={"litellm": 998}, groups={"litellm": 998}, dirs={"/opt/litellm", "/etc/litellm"},
                    units={"litellm.service": UNIT})
    host.dirs.add("/etc/litellm-old")
    plan = ownership.clean_plan(merged(), {"litellm": owned}, host, remove_accounts=True)
    assert plan["units"] == [UNIT] and plan["users"] == ["litellm"] and plan["groups"] == []
    assert plan["dirs"] == {"install_dir": ["/opt/litellm"], "config_dir": ["/etc/litellm-old"], "state_dir": []}
    assert [line.split(":", 2)[1] for line in plan["left"]] == ["service_group", "config_dir"]
    assert all("left in place" in line for line in plan["left"])
    kept = ownership.clean_plan(merged(), {"litellm": owned}, host, remove_accounts=False)
    assert kept["users"] == []
    # What the ledger lists but became unsafe to remove since (a disk mounted there, a link): left.
    host.mounts.add("/opt/litellm")
    mounted = ownership.clean_plan(merged(), {"litellm": owned}, host, remove_accounts=True)
    assert mounted["dirs"]["install_dir"] == [] and any("/opt/litellm left in place: it is a mount point" in line
                                                         for line in mounted["left"])
    # Every account the ledger lists, not only the current pillar's.
    owned["user:llm-old"] = {"kind": "user", "name": "llm-old", "key": "service_user"}
    host.users["llm-old"] = 997
    assert ownership.clean_plan(merged(), {"litellm": owned}, host, True)["users"] == ["litellm", "llm-old"]
    # Nothing owned: a unit the formula did not create is never stopped or removed.
    nothing = ownership.clean_plan(merged(service_name="ssh-proxy"), {}, FakeHost(
        units={"ssh-proxy.service": "/etc/systemd/system/ssh-proxy.service"}), remove_accounts=True)
    assert nothing["units"] == [] and nothing["dirs"] == {"install_dir": [], "config_dir": [], "state_dir": []}
    assert ownership.planned_removals(plan) == {f"unit:{UNIT}", "dir:/opt/litellm", "dir:/etc/litellm-old",
                                                "user:litellm"}
    assert nothing["left"] and "service_name" in nothing["left"][0]


def test_a_record_without_a_ledger_counts_as_owned(tmp_path):
    # Deployments made by 0.2.0 have a record but no ledger: what the record names was created then.
    record = {"service_name": "litellm", "service_user": "litellm", "service_group": "litellm",
              "install_dir": "/opt/litellm", "config_dir": "/etc/litellm", "state_dir": "/var/lib/litellm"}
    (tmp_path / "litellm.json").write_text("{}")
    ledgers = ownership.load_ledgers(str(tmp_path), lambda path: record)
    assert set(ledgers["litellm"]) == {"user:litellm", "group:litellm", f"unit:{UNIT}", "dir:/opt/litellm",
                                       "dir:/etc/litellm", "dir:/var/lib/litellm"}
    # 0.2.0 accepted what is refused today: such a record gives the formula none of it.
    (tmp_path / "old.json").write_text("{}")
    damaging = {"service_name": "old", "service_user": "nobody", "service_group": "nogroup", "install_dir": "/usr",
                "config_dir": "/etc", "state_dir": "/var/lib/dpkg"}
    ledgers = ownership.load_ledgers(str(tmp_path), lambda path: damaging if path.endswith("old.json") else record)
    assert ledgers["old"] == {"unit:/etc/systemd/system/old.service": {
        "kind": "unit", "name": "/etc/systemd/system/old.service", "key": "service_name", "how": "created"}}
    (tmp_path / "litellm.owned").write_text("not json")
    with pytest.raises(ValueError, match="unreadable ledger"):
        ownership.load_ledgers(str(tmp_path), lambda path: record)


def test_the_real_host_reads_packages_units_links_and_mounts(tmp_path, monkeypatch):
    # The real Host, against a fake dpkg-query on PATH and unit directories under tmp_path.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text('#!/bin/sh\n[ "$2" = /etc/owned ] && echo "base-files: /etc/owned" && exit 0\n'
                                        'echo "dpkg-query: no path found matching pattern $2" >&2; exit 1\n')
    (bin_dir / "dpkg-query").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    admin, vendor = tmp_path / "etc-units", tmp_path / "lib-units"
    for directory in (admin, vendor):
        directory.mkdir()
    (vendor / "shipped.service").write_text("[Service]\n")
    (admin / "alias.service").symlink_to(vendor / "shipped.service")
    monkeypatch.setattr(ownership, "UNIT_DIRS", (str(admin), str(vendor)))
    monkeypatch.setattr(ownership, "ADMIN_UNIT_DIR", str(admin))
    host = ownership.Host()
    assert host.package_owner("/etc/owned") == "base-files"
    assert host.package_owner("/etc/not-owned") is None
    assert host.unit_file("shipped.service") == str(vendor / "shipped.service")
    assert host.unit_file("alias.service") == str(admin / "alias.service") and host.islink(str(admin / "alias.service"))
    assert host.unit_file("missing.service") is None
    assert host.ismount("/") and not host.ismount(str(tmp_path))
    assert host.user_id("root") == 0 and host.group_id("root") == 0 and host.user_id("no-such-user-x") is None
    assert ownership._hard_refusal("unit", str(admin / "alias.service"), host).startswith("is a symbolic link")
    assert ownership._hard_refusal("dir", "/etc/owned", FakeHost(dirs={"/etc/owned"}, packages={
        "/etc/owned": host.package_owner("/etc/owned")})) == "belongs to the package base-files"


# Refused before 0.3.0 already (kept in the table for completeness, not counted as new).
REFUSED_BEFORE = {"install_dir /", "install_dir with ..", "install_dir relative", "state_dir outside /var/lib",
                  "service_user root", "service_name a template instance", "service_name a path",
                  "python with a shell command", "python relative"}


def test_every_refused_case_is_in_the_readme_table():
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- refused-table:begin -->")[1].split("<!-- refused-table:end -->")[0]
    rows = re.findall(r"^\| (.+?) \|", table, re.M)
    cases = [case for case, *_ in SCHEMA_REFUSED + HOST_REFUSED]
    assert len(set(cases) - REFUSED_BEFORE) >= 30
    missing = [case for case in cases if case not in rows]
    assert not missing, f"README refused-table lacks: {missing}"
