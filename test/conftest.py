"""Shared fixtures: repository paths and the Ollama API stand-in."""

import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "test"))
# The formula's pure logic, imported directly (on a minion it is _utils, synced by saltutil.sync_all).
sys.path.insert(0, str(REPO / "_utils"))

from helpers import StandinFleet  # noqa: E402


def pytest_configure(config):
    # Without this every salt-factories run ends in logging tracebacks (salt-factories 1.0.5).
    try:
        import salt._logging

        salt._logging.shutdown_temp_handler()
    except (ImportError, AttributeError):
        pass


FIGURES = []


@pytest.fixture(scope="session")
def record_figure():
    """Record a measured figure; all of them are printed at the end of the run."""

    def record(name, value):
        FIGURES.append((name, value))

    return record


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("measured figures")
        for name, value in FIGURES:
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture
def standins():
    """Ollama API stand-ins for one test; all stopped at the end, even on failure."""
    fleet = StandinFleet()
    try:
        yield fleet
    finally:
        fleet.stop_all()
