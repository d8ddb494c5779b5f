"""The real-Asterisk tier: one chrooted Asterisk 22 for the session, a Scene per test.

Every test with a scene runs twice: with a process per AGI step, and with the dialplan
switched to one `press3way fastagi` server for the session (`agi_mode`; a module narrows it
with `pytest.mark.parametrize("agi_mode", [...], indirect=True)`). The mode is session-scoped,
so pytest runs all tests of one mode together.

Skipped with one line when the tier cannot run here (not root, no mmdebstrap, no sounds, the
root's build failed). A failing test prints the part of Asterisk's full log it produced.
"""

from __future__ import annotations

import pathlib

import pytest

from press3way_testing.asterisk import root as asterisk_root
from press3way_testing.asterisk import sounds
from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts
from press3way_testing.asterisk.modes import FASTAGI, MODES, FastAGIMode, fastagi_server
from press3way_testing.asterisk.scene import Scene
from press3way_testing.asterisk.session import running_instance
from press3way_testing.site import Site

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


@pytest.fixture(scope="session", params=MODES)
def agi_mode(request) -> str:
    """How Asterisk runs our AGI steps: `per-call` processes or the `fastagi` server."""
    return request.param


@pytest.fixture(scope="session")
def fastagi(asterisk, asterisk_innodb) -> FastAGIMode:
    """One FastAGI server for the session's FastAGI-mode tests (each scene points it at its
    own site, and awaits the end of the calls it sent)."""
    with fastagi_server(asterisk, asterisk_innodb) as mode:
        yield mode


@pytest.fixture
def scene(request, asterisk, asterisk_innodb, agi_mode):
    """A fresh call: empty tables, agent and customer in session 8600051, default flags,
    the test's AGI mode."""
    server = request.getfixturevalue("fastagi") if agi_mode == FASTAGI else None
    s = Scene(asterisk, asterisk_innodb, server)
    s.load_block(block_with_timeouts(BLOCK.read_text(), TEST_TIMEOUTS))
    s.begin()
    yield s
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        print("---- Asterisk full log of this test ----\n" + s.asterisk_log())
        print("---- AGI log of this test ----\n" + s.agi_log())
        if server is not None:
            print("---- FastAGI server's log of this test ----\n" + "".join(s.fastagi_log()))
    s.end()
