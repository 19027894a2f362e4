"""Functional fixtures: the formula's modules and states through Salt's own loaders, in process
(pytest-salt-factories `Loaders`), with this repository as a masterless file root."""

import uuid

import pytest
import yaml
from helpers import REPO, formula_file_root
from saltfactories.utils.functional import Loaders


@pytest.fixture(scope="package")
def pillar_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("functional-pillar")
    (path / "top.sls").write_text(yaml.safe_dump({"base": {"*": ["litellm"]}}))
    (path / "litellm.sls").write_text(yaml.safe_dump({"litellm": {}}))
    return path


@pytest.fixture(scope="package")
def record_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("records")


@pytest.fixture(scope="package")
def host_root(tmp_path_factory):
    """Stands in for / in the formula's path rules (minion option litellm_path_prefix): the tests'
    directories live under <host_root>/opt and <host_root>/etc, never on this host."""
    root = tmp_path_factory.mktemp("host-root")
    for parent in ("opt", "etc"):
        (root / parent).mkdir()
    return root


@pytest.fixture
def config_dir(host_root):
    """A config_dir of the formula's own for one test (named after the service), created empty."""
    path = host_root / "etc" / f"litellm-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


@pytest.fixture
def install_dir(host_root):
    """An install_dir of the formula's own for one test (not created)."""
    return host_root / "opt" / f"litellm-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="package")
def file_root(tmp_path_factory):
    """A file root serving the formula twice: as `litellm` and nested under another name."""
    return formula_file_root(tmp_path_factory.mktemp("file-root"))


@pytest.fixture(scope="package")
def minion_opts(salt_factories, pillar_dir, file_root, record_dir, host_root):
    overrides = {
        # Records and ledgers go to a temporary directory, never this host's /var/lib.
        "litellm_record_dir": str(record_dir),
        "litellm_path_prefix": str(host_root),
        "file_client": "local",
        "file_roots": {"base": [str(file_root)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
        "module_dirs": [str(REPO / "_modules")],
        "states_dirs": [str(REPO / "_states")],
    }
    factory = salt_factories.salt_minion_daemon("functional", overrides=overrides)
    return factory.config.copy()


@pytest.fixture
def loaders(minion_opts):
    loaders = Loaders(minion_opts)
    try:
        yield loaders
    finally:
        loaders.reset_state()


@pytest.fixture
def set_pillar(pillar_dir, loaders):
    def write(data):
        (pillar_dir / "litellm.sls").write_text(yaml.safe_dump({"litellm": data}))
        loaders.reload_all()  # modules keep the pillar object they were loaded with

    return write
