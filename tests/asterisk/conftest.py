"""The real-Asterisk tier: one chrooted Asterisk 22 for the session, a Scene per test.

Skipped with one line when the tier cannot run here (not root, no mmdebstrap, no sounds, the
root's build failed). A failing test prints the part of Asterisk's full log it produced.
"""

from __future__ import annotations

import pathlib

import pytest

from press3way.testing.asterisk import root as asterisk_root
from press3way.testing.asterisk import sounds
from press3way.testing.asterisk.dialplan import Timeouts, block_with_timeouts
from press3way.testing.asterisk.scene import Scene
from press3way.testing.asterisk.session import running_instance
from press3way.testing.site import Site

BLOCK = pathlib.Path(__file__).resolve().parents[2] / "extensions_custom.conf"
# short flags so every outcome comes within seconds: agent, dial, press, accept
TEST_TIMEOUTS = Timeouts(agent=12, dial=6, press=4, accept=5)


def tier_unavailable() -> str:
    missing = sounds.missing_vicidial_sounds()
    if missing:
        return f"needs VICIdial's sounds ({', '.join(missing)}) in {sounds.vicidial_sounds_dir()}"
    try:
        asterisk_root.ensure_root(log=lambda _line: None)
    except asterisk_root.RootUnavailable as exc:
        return str(exc)
    return ""


@pytest.fixture(scope="session")
def asterisk(mariadb, tmp_path_factory):
    reason = tier_unavailable()
    if reason:
        pytest.skip(f"real-Asterisk tier: {reason}")
    kept = tmp_path_factory.mktemp("asterisk-log") / "full"
    with running_instance(block_with_timeouts(BLOCK.read_text(), TEST_TIMEOUTS),
                          keep_log=kept.write_text) as instance:
        yield instance


def _site(mariadb, engine: str) -> Site:
    site = Site(server=mariadb, db_name=f"press3way_asterisk_{engine.lower()}")
    site.create(engine)
    return site


@pytest.fixture(scope="session")
def asterisk_innodb(mariadb, asterisk) -> Site:
    return _site(mariadb, "InnoDB")


@pytest.fixture(scope="session")
def asterisk_myisam(mariadb, asterisk) -> Site:
    return _site(mariadb, "MyISAM")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def scene(request, asterisk, asterisk_innodb):
    """A fresh call: empty tables, agent and customer in session 8600051, default flags."""
    asterisk.load_block(block_with_timeouts(BLOCK.read_text(), TEST_TIMEOUTS))
    s = Scene(asterisk, asterisk_innodb).begin()
    yield s
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        print("---- Asterisk full log of this test ----\n" + s.asterisk_log())
        print("---- AGI log of this test ----\n" + s.agi_log())
    s.end()
