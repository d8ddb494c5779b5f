"""Conference rooms after a 3-way call (docs/behaviour.md, VICIdial's programs): a room is never
set free while a channel of ours may be in it, and never left reserved by a call that ended.
Once the agent leg has been sent into a room, the room goes to VICIdial's own leave-3way
bookkeeping (leave_3way='1', extension '3WAY_<user>'), whose conference cleaners
(AST_conf_update_screen.pl, AST_conf_update_3way.pl) kick a lone leg and free it.

The legs run for real (a process per AGI step, or the FastAGI server) on the real MariaDB; the
test plays the other leg at the exact AGI command where the race lies."""

from __future__ import annotations

import os
import sys

import pytest

from press3way import events as ev
from press3way.database import execute
from press3way.store import Store
from press3way.tables import LIVE
from press3way_testing.standins.channel import SimChannel
from press3way_testing.standins.fakeagi import AGIResult, FakeAGI
from press3way_testing.standins.fakeami import FakeAMI, Originate
from tests.conftest import AGENT, OUTSIDE
from tests.helpers import events, live, reserve_room, sql, start_calls

pytestmark = pytest.mark.usefixtures("agi_mode")
ROOM = "8600061"                # the lowest free room that is not the agent's own session


@pytest.fixture
def site(any_site):
    """Both engines: the winner's election takes another path on MyISAM."""
    return any_site


def room(site, conf: str = ROOM) -> dict:
    (row,) = sql(site, "SELECT extension, leave_3way, leave_3way_datetime "
                       "FROM vicidial_conferences WHERE conf_exten = %s", (conf,))
    return row


def left_to_vicidial(site, conf: str = ROOM) -> bool:
    """The room is the agent's leave-3way, as VICIdial's cleaners need it."""
    row = room(site, conf)
    return (row["extension"], row["leave_3way"]) == (f"3WAY_{site.user}", "1") \
        and row["leave_3way_datetime"] is not None


def run_agent_leg(site, at_set_context) -> AGIResult:
    """The agent leg with one outside call that answers and wins at once (played by the test
    when the originate arrives); `at_set_context(call_id)` runs when the agent leg's
    SET CONTEXT into the room arrives, before Asterisk answers it."""
    call_ids: list[str] = []
    store = Store(site.connect())

    def answer_and_win(originate: Originate) -> None:      # the live row exists by now
        call_id = originate.variables["__call_3way_id"]
        call_ids.append(call_id)
        store.answered(call_id, "SIP/carrier-0000001")
        store.elect(call_id, site.caller_code)

    def observer(way: str, text: str) -> None:
        if way == "->" and text.startswith("SET CONTEXT"):
            at_set_context(call_ids[0])

    with FakeAMI(on_originate=answer_and_win) as ami:
        site.reset(ami_port=ami.port)
        return FakeAGI(AGENT, SimChannel("Local/8600051@default-1;2"), ["start---10---10"],
                         interpreter=sys.executable,
                         process_env=dict(os.environ, PRESS3WAY_CONF=site.conf_path),
                         env={"agi_extension": "49907917275551212",
                              "agi_calleridname": site.caller_code},
                         observer=observer, server=site.fastagi).run(timeout=60)


def test_a_winner_that_stops_waiting_as_the_agent_leg_goes_in_leaves_the_room_to_vicidial(site):
    """The winner gave up (no hand-over within its grace) just as the agent leg was sent
    into the room: the agent leg's line is in it, so the room is not set free."""
    def winner_stops_waiting(call_id: str) -> None:
        store = Store(site.connect())
        assert store.end_call(call_id, "stop_waiting_reserved", ev.AGENT_GONE)
        store.delete_live(call_id)
    result = run_agent_leg(site, winner_stops_waiting)
    assert result.exit_code == 0 and f"SET EXTENSION 7{ROOM}" in result.commands, result.stderr
    assert left_to_vicidial(site), room(site)
    assert "stopped waiting before the transfer" in site.agi_log()


def test_an_agent_leg_that_fails_after_going_in_leaves_the_room_to_vicidial(site):
    """The agent leg is in the room when its database statements fail (the batch is
    abandoned): the room it reserved goes to VICIdial's clean-up, not back to free."""
    def live_table_goes_away(call_id: str) -> None:
        execute(site.connect(), f"RENAME TABLE {LIVE} TO live_away")
    try:
        run_agent_leg(site, live_table_goes_away)
    finally:
        execute(site.connect(), f"RENAME TABLE live_away TO {LIVE}")
    assert left_to_vicidial(site), room(site)


def hand_over(site, cid: str) -> None:
    """The agent leg's part: the room reserved, the winner's row RESERVED, then TRANSFER (the
    agent leg is on its way into the room)."""
    store = Store(site.connect())
    reserve_room(site, ROOM, site.user)
    assert store.reserve(cid, ROOM) and store.hand_over(cid)


def winner_waiting(site) -> str:
    """One outside call, answered, that has just won its batch."""
    (cid,) = start_calls(site)
    assert site.outside("answered", cid).exit_code == 0
    return cid


def test_a_winner_hung_up_on_its_way_into_the_room_leaves_it_to_vicidial(site):
    """Handed over (TRANSFER), `Transfer` logged, then the winner hangs up at its SET
    CONTEXT: the agent leg is in the room alone; VICIdial's clean-up ends it."""
    cid = winner_waiting(site)
    channel = SimChannel("SIP/carrier-0000001", variables={"call_3way_id": cid})

    def handed_over_then_gone_on_the_way(way: str, text: str) -> None:
        if way == "->" and text.startswith("EXEC UserEvent"):     # the winner tells the agent
            hand_over(site, cid)
        if way == "->" and text.startswith("SET CONTEXT"):
            channel.hang_up("party hung up")
    result = site.agi(OUTSIDE, ["accepted"], channel, context="xfer_press_dialplan",
                      observer=handed_over_then_gone_on_the_way)
    assert result.exit_code in (0, 1)
    assert "Transfer" in events(site, cid) and live(site, cid) is None
    assert left_to_vicidial(site), room(site)


def test_a_winner_hung_up_after_the_hand_over_it_had_not_seen_leaves_the_room_to_vicidial(site):
    """The agent leg went into the room (TRANSFER) while the winner was still waiting, and
    the winner hangs up before it saw the hand-over: the room is not left reserved."""
    cid = winner_waiting(site)
    channel = SimChannel("SIP/carrier-0000001", variables={"call_3way_id": cid})

    def handed_over_then_gone(way: str, text: str) -> None:
        if way == "->" and text.startswith("EXEC UserEvent"):
            hand_over(site, cid)
            channel.hang_up("party hung up")
    result = site.agi(OUTSIDE, ["accepted"], channel, context="xfer_press_dialplan",
                      observer=handed_over_then_gone)
    assert result.exit_code in (0, 1)
    assert events(site, cid)[-1] == ev.HUNGUP and live(site, cid) is None
    assert left_to_vicidial(site), room(site)


def test_a_winner_whose_h_run_comes_before_its_accepted_run_leaves_the_room_to_vicidial(site):
    """The winner hung up just after the hand-over; Asterisk's h run (stage hungup) reaches
    the database before the accepted run's own clean-up does: the room is not left reserved."""
    cid = winner_waiting(site)
    assert Store(site.connect()).elect(cid, site.caller_code)
    hand_over(site, cid)
    assert site.outside("hungup", cid, dead=True).exit_code == 0
    assert events(site, cid)[-1] == ev.HUNGUP and live(site, cid) is None
    assert left_to_vicidial(site), room(site)
