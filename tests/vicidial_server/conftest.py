"""Tier 4, a VICIdial server: VICIdial's own programs (from ../shared/vicidial, never copied)
around the real Asterisk 22, in a root of their own (press3way_testing.vicidial_server).

One server for the session; every test runs in both AGI modes (per-call processes, then one
`press3way fastagi` server), switched as an admin switches them: `press3way install
--vicidial --fastagi|--per-call`, then VICIdial's keepalive rebuilding the dialplan. Skipped
with one line where the tier cannot run (not root, no mmdebstrap, no VICIdial files, port 4577
taken). A failing test prints its part of Asterisk's log, our AGI log and VICIdial's logs.
"""

from __future__ import annotations

import re

import pytest

from press3way_testing.asterisk.instance_dialplan import Timeouts
from press3way_testing.asterisk.modes import FASTAGI, MODES, fastagi_server
from press3way_testing.mariadb import throwaway_server
from press3way_testing.vicidial_server import session
from press3way_testing.vicidial_server.database import VICIDIAL_SQL_MODE
from press3way_testing.vicidial_server.dialplan import OTHER_CONTEXT
from press3way_testing.vicidial_server.scene import VicidialScene

# short flags so every outcome comes within seconds: agent, dial, press, accept
TEST_TIMEOUTS = Timeouts(agent=12, dial=6, press=4, accept=5)
DAEMONS = ("FastAGI_log.pl", "AST_manager_listen.pl", "AST_manager_send.pl",
           "AST_conf_update_screen.pl")


@pytest.fixture(scope="session")
def vicidial_server(tmp_path_factory):
    """The server, on a MariaDB of its own in VICIdial's SQL mode (database.VICIDIAL_SQL_MODE)."""
    reason = session.why_unavailable()
    if reason:
        pytest.skip(f"VICIdial-server tier: {reason}")
    kept = tmp_path_factory.mktemp("vicidial-server-log") / "full"
    with throwaway_server(f"--sql-mode={VICIDIAL_SQL_MODE}") as mariadb, \
            session.running_server(mariadb, TEST_TIMEOUTS, keep_log=kept) as server:
        yield server


@pytest.fixture(scope="session", params=MODES)
def agi_mode(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def fastagi(vicidial_server):
    with fastagi_server(vicidial_server.instance, vicidial_server.site) as mode:
        yield mode


@pytest.fixture
def scene(request, vicidial_server, agi_mode):
    """A fresh call: our tables and VICIdial's queue empty, every room free, the agent and
    the customer in session 9600051, the test's AGI mode, ext_context `default`."""
    yield from _scene(request, vicidial_server, agi_mode, "default")


@pytest.fixture
def scene_elsewhere(request, vicidial_server, agi_mode):
    """The same on a server whose ext_context is another context."""
    yield from _scene(request, vicidial_server, agi_mode, OTHER_CONTEXT)


def _scene(request, vicidial_server, agi_mode, ext_context):
    server = request.getfixturevalue("fastagi") if agi_mode == FASTAGI else None
    s = VicidialScene(vicidial_server, server, ext_context)
    s.begin()
    yield s
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        print_logs(s)
    s.end()


def print_logs(s: VicidialScene) -> None:
    print("---- Asterisk full log of this test ----\n" + s.asterisk_log())
    print("---- AGI log of this test ----\n" + s.agi_log())
    if s.fastagi is not None:
        print("---- FastAGI server's log of this test ----\n" + "".join(s.fastagi_log()))
    print("---- ADMIN_keepalive_ALL.pl (last lines) ----\n" + "\n".join(
        s.instance.daemon_output("ADMIN_keepalive_ALL.pl").splitlines()[-20:]))
    for name in DAEMONS:
        status = s.instance.daemons[name].poll()
        print(f"---- {name} ({'running' if status is None else f'exited {status}'}) ----\n"
              + "\n".join(s.instance.daemon_output(name).splitlines()[-30:]))
        errors = [line for line in s.instance.daemon_output(name).splitlines()
                  if re.search(r" at /opt/vicidial/| line \d+\.$|^DBD::|[Dd]ied", line)]
        if errors:
            print(f"---- {name}'s errors ----\n" + "\n".join(errors[-10:]))
