"""FastAGI mode on the real Asterisk: our dialplan switched to `agi://127.0.0.1:PORT/...`, and
Asterisk itself connecting to `press3way fastagi` (environment, replies, HANGUP lines, the
detach by shutting the socket's write side, AGI from the h extension)."""

from __future__ import annotations

import re

import pytest

from press3way import events as ev
from press3way.db import execute
from press3way.fastagi.dialplan import to_fastagi
from press3way.testing.asterisk.dialplan import block_with_timeouts
from press3way.testing.asterisk.parties import Party
from press3way.testing.fastagi import FastAGIServer
from tests.asterisk.conftest import BLOCK, TEST_TIMEOUTS

CONF = "8600061"     # the first free 3-way conference of the Site


@pytest.fixture
def server(scene, asterisk, tmp_path):
    """The FastAGI server on this scene's database, and the dialplan switched to it."""
    conf = tmp_path / "astguiclient.conf"
    scene.site.write_conf(str(conf), str(asterisk.host(asterisk.agi_logs)))
    with FastAGIServer(str(conf)) as running:
        asterisk.load_block(to_fastagi(block_with_timeouts(BLOCK.read_text(), TEST_TIMEOUTS),
                                       running.port))
        yield running


def steps(server: FastAGIServer) -> list[str]:
    """The AGI steps the server ran: 'script status N'."""
    ends = (re.search(r"\|call \S+ (\S+) \S+: status (-?\d+) after", line)
            for line in server.find(r"\|call "))
    return [f"{end.group(1)} status {end.group(2)}" for end in ends if end]


def test_single_accept_is_bridged_through_the_server(scene, server):
    scene.call(Party("7275551212", ring=0.3, press_at=3.2))
    scene.wait_settled(outside=1)
    assert scene.members(CONF) == {scene.outside_legs()[0], scene.agent_leg()}
    rows = scene.log_rows()
    assert [e for e, _ in ev.parse_result(rows[0]["result"])] == [
        "Started", "Answered", "Accepted", "Reserved", "Transfer"]
    assert rows[0]["call_transfer"] == "Y" and scene.live_rows() == []
    assert server.wait_for_line(r"agi-3way_press_agent\.agi \S+: status", 10)
    ran = steps(server)
    assert "agi-3way_press_agent.agi status 0" in ran
    assert ran.count("agi-3way_press_outside.agi status 0") >= 2    # answered, accepted


def test_no_press_is_declined_and_logged_from_h_through_the_server(scene, server):
    scene.call(Party("7275551212", ring=0.3))
    scene.wait_settled(outside=1)
    rows = scene.log_rows()
    assert [e for e, _ in ev.parse_result(rows[0]["result"])] == [
        "Started", "Answered", "Declined"]
    assert scene.live_rows() == []
    assert scene.ending(scene.agent_leg()).hung_up
    assert server.wait_for_line(r"agi-3way_press_outside\.agi \S+: status 0", 10, count=3)
    assert all(step.endswith("status 0") for step in steps(server))


def test_hangup_while_waiting_for_a_conference_arrives_as_a_hangup_line(scene, server):
    """No conference free: the winner waits; its party hangs up, Asterisk tells the server on
    the socket (no signal in FastAGI), and the call is logged Hungup at once."""
    execute(scene.site.connect(), "UPDATE vicidial_confbridges SET extension = 'SIP/busy'")
    scene.call(Party("7275551212", ring=0.3, press_at=3.2, hangup_at=4.2))
    scene.wait_settled(outside=1)
    rows = scene.log_rows()
    assert [e for e, _ in ev.parse_result(rows[0]["result"])] == [
        "Started", "Answered", "Accepted", "Hungup"]
    assert server.wait_for_line(r"agi-3way_press_outside\.agi \S+: status 0", 10, count=2)
    assert "channel hung up: HANGUP line from Asterisk" in scene.agi_log()
    assert scene.live_rows() == []
