"""Whole 3-way calls on the real Asterisk 22: every event of docs/behaviour.md, "Events",
each with a process per AGI step and through the FastAGI server (conftest's `agi_mode`).

Flags (conftest): agent 12 s, dial 6 s, press 4 s, accept 5 s; the prompts last 3.0 s.
"""

from __future__ import annotations

import pytest

from press3way import events as ev
from press3way_testing.asterisk.instance import free_port
from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts
from press3way_testing.asterisk.parties import Party

from .conftest import BLOCK
from .expect import LOSERS, agent_and_customer_stay, batch_over, bridged, failed_to_buzz, hung_up_in

A, B, C, D, E = "7275551212", "7275551213", "7275551214", "7275551215", "7275551216"
OUTSIDE_CONTEXT = "xfer_press_dialplan"
PROMPTS_S = 3.0


def test_single_accept(scene):
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    scene.wait_settled(outside=1)
    assert batch_over(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.RESERVED,
                                     ev.TRANSFER]}
    assert scene.log_rows()[0]["call_transfer"] == "Y"
    assert scene.log_rows()[0]["call_channel"] == scene.outside_leg(A)
    bridged(scene, A)


def test_outside_channels_carry_uniqueids_like_asterisks_own(scene):
    """Both halves of an outside call's Local channel: `<epoch>.<n>` in at most 20 characters
    (VICIdial's VARCHAR(20) uniqueid columns, which it reads the epoch from), also its
    linkedid; never the call id, never `...;2`."""
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    scene.wait_settled(outside=1)
    halves = [e for e in scene.events("Newchannel") if e["Channel"].startswith(f"Local/9{A}@")]
    assert len(halves) == 2
    started = scene.log_rows()[0]["call_date"].timestamp()
    for event in halves:
        epoch, _, serial = event["Uniqueid"].partition(".")
        assert len(event["Uniqueid"]) <= 20 and serial.isdigit(), event.fields
        assert abs(int(epoch) - started) < 60, event.fields
        assert event["Linkedid"] == halves[0]["Uniqueid"]


def test_press_in_the_first_100_ms_of_the_prompts(scene):
    scene.call(Party(A))
    outside = scene.wait_channels("Local/9", 2)[0]
    scene.wait_app(outside, "BackGround")
    scene.press(A)
    scene.wait_settled(outside=1)
    assert batch_over(scene)[A][-1] == ev.TRANSFER
    bridged(scene, A)


def test_press_during_the_agent_legs_hold_tone(scene):
    scene.call(Party(A))
    agent_leg = scene.wait_channels("Local/49949907", 2)[-1]
    scene.wait_agi(agent_leg, "STREAM FILE hold_tone*")
    scene.press(A)
    scene.wait_settled(outside=1)
    assert batch_over(scene)[A][-1] == ev.TRANSFER
    bridged(scene, A)


def test_no_press_is_declined(scene):
    scene.call(Party(A))
    scene.wait_settled(outside=1)
    assert batch_over(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.DECLINED]}
    hung_up_in(scene, scene.outside_leg(A), OUTSIDE_CONTEXT)
    assert scene.events("Newexten", Channel=scene.outside_leg(A), Application="Playback",
                        AppData="buzz")
    failed_to_buzz(scene)


def test_wrong_key_is_declined(scene):
    scene.call(Party(A, press_at=PROMPTS_S + 0.2, digits="2"))
    scene.wait_settled(outside=1)
    assert batch_over(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.DECLINED]}
    assert scene.events("Newexten", Channel=scene.outside_leg(A), Exten="i")
    hung_up_in(scene, scene.outside_leg(A), OUTSIDE_CONTEXT)
    failed_to_buzz(scene)


def test_hang_up_before_pressing(scene):
    scene.call(Party(A, hangup_at=1.5))
    scene.wait_settled(outside=1)
    assert batch_over(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.HUNGUP]}
    hung_up_in(scene, scene.outside_leg(A), OUTSIDE_CONTEXT)
    failed_to_buzz(scene)


@pytest.mark.parametrize("mode", ["busy", "noanswer"])
def test_busy_or_no_answer(scene, mode):
    scene.call(Party(A, mode=mode))
    scene.wait_settled(outside=1)
    assert batch_over(scene) == {A: [ev.STARTED, ev.HUNGUP]}
    hung_up_in(scene, scene.outside_leg(A))
    failed_to_buzz(scene)


def test_multi_first_press_wins(scene):
    scene.call(Party(A, press_at=PROMPTS_S + 0.2), Party(B, press_at=PROMPTS_S + 0.6),
               Party(C))
    scene.wait_settled(outside=3)
    found = batch_over(scene)
    assert found[A][-1] == ev.TRANSFER
    assert found[B][-1] in LOSERS and found[C][-1] == ev.DEFEATED, found
    bridged(scene, A)
    for loser in (B, C):
        hung_up_in(scene, scene.outside_leg(loser))
        hung_up_in(scene, scene.party_channel(loser))


def test_five_simultaneous_presses_bridge_exactly_one(scene):
    numbers = (A, B, C, D, E)
    scene.call(*(Party(n) for n in numbers))
    legs = scene.wait_channels("Local/9", 10)
    for leg in (c for c in legs if c.endswith(";1")):
        scene.wait_app(leg, "WaitExten")
    scene.press_together(numbers)
    scene.wait_settled(outside=5)
    found = batch_over(scene)
    winners = [n for n, events in found.items() if events[-1] == ev.TRANSFER]
    assert len(winners) == 1, found
    assert all(found[n][-1] in LOSERS for n in numbers if n not in winners), found
    bridged(scene, winners[0])


def test_too_slow_while_the_winner_waits_for_a_conference(scene):
    """B presses while A holds the win and waits for a conference (none is free): B is Too
    Slow; A gives up after its accept timeout: Agent Gone."""
    scene.occupy_conferences()
    scene.call(Party(A, press_at=PROMPTS_S + 0.2), Party(B, press_at=PROMPTS_S + 1.2))
    scene.wait_settled(outside=2)
    found = batch_over(scene)
    assert found == {A: [ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.AGENT_GONE],
                     B: [ev.STARTED, ev.ANSWERED, ev.TOO_SLOW]}, found
    failed_to_buzz(scene)


def test_no_free_conference(scene):
    scene.occupy_conferences()
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    scene.wait_settled(outside=1)
    assert batch_over(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.ACCEPTED, ev.AGENT_GONE]}
    assert "no free conference" in scene.agi_log()
    hung_up_in(scene, scene.outside_leg(A), OUTSIDE_CONTEXT)
    failed_to_buzz(scene)


def test_agent_hangs_up_while_calls_ring(scene):
    """Every call is cut while still ringing (AMI Hangup by the uniqueid set at Originate)."""
    numbers = (A, B, C)
    scene.call(*(Party(n, mode="noanswer") for n in numbers))
    scene.wait_channels("Local/9", 6)
    scene.rec.wait_event("Newexten", 10, since=scene.since, count=3, Application="Wait",
                         Context="press3way-party")
    scene.hang_up_agent()
    scene.wait_settled(outside=3)
    assert batch_over(scene) == {n: [ev.STARTED, ev.AGENT_GONE] for n in numbers}
    for number in numbers:
        assert not scene.events("Newexten", Channel=scene.outside_leg(number),
                                Context=OUTSIDE_CONTEXT), f"{number} was answered"
        assert not scene.events("Newexten", Channel=scene.party_channel(number),
                                Application="Answer"), f"{number} answered"
        hung_up_in(scene, scene.party_channel(number), "press3way-party")
    hung_up_in(scene, scene.agent_leg())
    agent_and_customer_stay(scene)


def test_ami_down(asterisk, asterisk_innodb, scene):
    scene.end()
    scene.begin(ami_port=free_port())
    scene.call(Party(A, press_at=PROMPTS_S + 0.2))
    scene.wait_settled(outside=0)
    assert batch_over(scene) == {A: [ev.STARTED, ev.HUNGUP]}
    assert scene.outside_legs() == []
    assert "AMI unreachable" in scene.agi_log()
    failed_to_buzz(scene)


def test_timeout(scene):
    scene.load_block(block_with_timeouts(BLOCK.read_text(),
                                         Timeouts(agent=3, dial=6, press=20, accept=5)))
    scene.call(Party(A))
    scene.wait_settled(outside=1)
    assert batch_over(scene) == {A: [ev.STARTED, ev.ANSWERED, ev.TIMEOUT]}
    hung_up_in(scene, scene.outside_leg(A), OUTSIDE_CONTEXT)
    failed_to_buzz(scene)


def test_multi_on_myisam(asterisk_myisam, scene):
    scene.end()
    scene.begin(engine_site=asterisk_myisam)
    scene.call(Party(A, press_at=PROMPTS_S + 0.2), Party(B))
    scene.wait_settled(outside=2)
    found = batch_over(scene)
    assert found[A][-1] == ev.TRANSFER and found[B][-1] == ev.DEFEATED, found
    bridged(scene, A)
    hung_up_in(scene, scene.outside_leg(B))
