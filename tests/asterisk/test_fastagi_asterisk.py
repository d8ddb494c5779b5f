"""FastAGI mode on the real Asterisk: our dialplan switched to `agi://127.0.0.1:PORT/...`, and
Asterisk itself connecting to `press3way fastagi` (environment, replies, HANGUP lines, the
detach by shutting the socket's write side, AGI from the h extension). What the server itself
logged about each step; the calls' outcomes in both modes are test_calls.py's."""

from __future__ import annotations

import re

import pytest

from press3way import events as ev
from press3way.database import execute
from press3way_testing.asterisk.modes import FASTAGI, call_end
from press3way_testing.asterisk.parties import Party
from press3way_testing.asterisk.scene import Scene

pytestmark = pytest.mark.parametrize("agi_mode", [FASTAGI], indirect=True)
CONF = "8600061"     # the first free 3-way conference of the Site
AWAIT_S = 10.0
AGENT, OUTSIDE = "agi-3way_press_agent.agi", "agi-3way_press_outside.agi"


def steps(scene: Scene, script: str, count: int) -> list[str]:
    """Every AGI step the server ran in this scene ('script status N'), once `count` steps
    of `script` have ended."""
    assert scene.fastagi.wait_for_lines(call_end(re.escape(script)), count, scene.fastagi_from,
                                        AWAIT_S), scene.fastagi_log()
    found = (re.search(r"\|call \S+ (\S+) \S+: status (-?\d+) after", line)
             for line in scene.fastagi_log())
    return [f"{end.group(1)} status {end.group(2)}" for end in found if end]


def test_single_accept_is_bridged_through_the_server(scene):
    scene.call(Party("7275551212", ring=0.3, press_at=3.2))
    scene.wait_settled(outside=1)
    assert scene.members(CONF) == {scene.outside_legs()[0], scene.agent_leg()}
    rows = scene.log_rows()
    assert [e for e, _ in ev.parse_result(rows[0]["result"])] == [
        "Started", "Answered", "Accepted", "Reserved", "Transfer"]
    assert rows[0]["call_transfer"] == "Y" and scene.live_rows() == []
    ran = steps(scene, AGENT, 1)
    assert f"{AGENT} status 0" in ran
    assert ran.count(f"{OUTSIDE} status 0") >= 2    # answered, accepted


def test_no_press_is_declined_and_logged_from_h_through_the_server(scene):
    scene.call(Party("7275551212", ring=0.3))
    scene.wait_settled(outside=1)
    rows = scene.log_rows()
    assert [e for e, _ in ev.parse_result(rows[0]["result"])] == [
        "Started", "Answered", "Declined"]
    assert scene.live_rows() == []
    assert scene.ending(scene.agent_leg()).hung_up
    ran = steps(scene, OUTSIDE, 3)                  # answered, declined, hungup (from h)
    assert all(step.endswith("status 0") for step in ran), ran


def test_hangup_while_waiting_for_a_conference_arrives_as_a_hangup_line(scene):
    """No conference free: the winner waits; its party hangs up, Asterisk tells the server on
    the socket (no signal in FastAGI), and the call is logged Hungup at once."""
    execute(scene.site.connect(), "UPDATE vicidial_confbridges SET extension = 'SIP/busy'")
    scene.call(Party("7275551212", ring=0.3, press_at=3.2, hangup_at=4.2))
    scene.wait_settled(outside=1)
    rows = scene.log_rows()
    assert [e for e, _ in ev.parse_result(rows[0]["result"])] == [
        "Started", "Answered", "Accepted", "Hungup"]
    assert steps(scene, OUTSIDE, 2).count(f"{OUTSIDE} status 0") >= 2
    assert "channel hung up: HANGUP line from Asterisk" in scene.agi_log()
    assert scene.live_rows() == []
