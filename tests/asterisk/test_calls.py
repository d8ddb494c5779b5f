"""The scenario catalogue (press3way_testing/scenarios.py) played on the real Asterisk 22,
each AGI step as a process of its own and through the FastAGI server (conftest's `agi_mode`).

Every scenario's outcome is checked by the catalogue; what only the real Asterisk shows (its
manager events: where each channel hung up, who is in which ConfBridge) is checked here:
for every scenario by the agent leg's end, and per scenario below.

Flags (conftest): agent 12 s, dial 6 s, press 4 s, accept 5 s unless the scenario needs its
own; the prompts last 3.0 s.
"""

from __future__ import annotations

import dataclasses

import pytest

from press3way_testing.asterisk.instance_dialplan import block_with_timeouts
from press3way_testing.asterisk.parties import Party
from press3way_testing.asterisk.scene import Scene
from press3way_testing.asterisk.simulate import play
from press3way_testing.scenarios import (
    AGENT_GONE,
    BUZZ,
    CATALOGUE,
    TRANSFER,
    A,
    Played,
    Scenario,
    check,
    row_events,
)
from press3way_testing.sim import parse_party

from .conftest import BLOCK, TEST_TIMEOUTS
from .expect import CONF, agent_and_customer_stay, bridged, failed_to_buzz, hung_up_in

OUTSIDE_CONTEXT = "xfer_press_dialplan"


def set_up(request, scene: Scene, scenario: Scenario) -> None:
    """The scene as the scenario needs it: its engine, its flags, its site."""
    if scenario.engine != "InnoDB":
        scene.end()
        scene.begin(engine_site=request.getfixturevalue(f"asterisk_{scenario.engine.lower()}"))
    if scenario.timeouts:
        timeouts = dataclasses.replace(TEST_TIMEOUTS, **scenario.timeouts)
        scene.load_block(block_with_timeouts(BLOCK.read_text(), timeouts))
    scenario.prepare(scene.site)


def played(scene: Scene) -> Played:
    """What the catalogue checks, from the scene's rows and manager events."""
    agent_leg, rows = scene.agent_leg(), row_events(scene.log_rows())
    inside = scene.members(CONF)
    bridged_to = ""
    if agent_leg in inside:
        agent = TRANSFER
        bridged_to = next((n for n in rows if scene.outside_leg(n) in inside), "")
    elif scene.events("AGIExecStart", Channel=agent_leg, Command="STREAM FILE buzz*"):
        agent = BUZZ
    elif scene.ending(agent_leg).hung_up:
        agent = AGENT_GONE
    else:
        agent = f"{agent_leg} still up"
    story = f"rows: {scene.log_rows()}\nlive: {scene.live_rows()}\nin {CONF}: {inside}"
    return Played(rows, len(scene.live_rows()), agent, bridged_to, story)


def agent_leg_ended(scene: Scene, scenario: Scenario, winner: str) -> None:
    """The agent leg's end as the manager saw it, and the agent and customer still seated."""
    if scenario.agent == TRANSFER:
        bridged(scene, winner)
    elif scenario.agent == BUZZ:
        failed_to_buzz(scene)
    else:
        hung_up_in(scene, scene.agent_leg())
        assert scene.members(CONF) == set()
        agent_and_customer_stay(scene)


# --- what only the real Asterisk shows, per scenario ----------------------------------------
def outside_channels_carry_uniqueids_like_asterisks_own(scene: Scene) -> None:
    """Both halves of an outside call's Local channel: `<epoch>.<n>` in at most 20 characters
    (VICIdial's VARCHAR(20) uniqueid columns, which it reads the epoch from), also its
    linkedid; never the call id, never `...;2`."""
    assert scene.log_rows()[0]["call_channel"] == scene.outside_leg(A)
    halves = [e for e in scene.events("Newchannel") if e["Channel"].startswith(f"Local/9{A}@")]
    assert len(halves) == 2
    started = scene.log_rows()[0]["call_date"].timestamp()
    for event in halves:
        epoch, _, serial = event["Uniqueid"].partition(".")
        assert len(event["Uniqueid"]) <= 20 and serial.isdigit(), event.fields
        assert abs(int(epoch) - started) < 60, event.fields
        assert event["Linkedid"] == halves[0]["Uniqueid"]


def declined_in_the_outside_context(exten: str):
    def seen(scene: Scene) -> None:
        hung_up_in(scene, scene.outside_leg(A), OUTSIDE_CONTEXT)
        assert scene.events("Newexten", Channel=scene.outside_leg(A), Exten=exten,
                            Application="Playback", AppData="buzz")
    return seen


def losers_hung_up(scene: Scene) -> None:
    winner = next(n for n, e in row_events(scene.log_rows()).items() if e[-1] == "Transfer")
    for number in row_events(scene.log_rows()):
        if number != winner:
            hung_up_in(scene, scene.outside_leg(number))
            hung_up_in(scene, scene.party_channel(number))


def cut_while_ringing(scene: Scene) -> None:
    """Every call cut unanswered: no party answered, no outside leg reached our context."""
    for number in row_events(scene.log_rows()):
        assert not scene.events("Newexten", Channel=scene.outside_leg(number),
                                Context=OUTSIDE_CONTEXT), f"{number} was answered"
        assert not scene.events("Newexten", Channel=scene.party_channel(number),
                                Application="Answer"), f"{number} answered"
        hung_up_in(scene, scene.party_channel(number), "press3way-party")


def said_in_the_agi_log(words: str):
    def seen(scene: Scene) -> None:
        assert words in scene.agi_log()
    return seen


def nothing_dialled(scene: Scene) -> None:
    assert scene.outside_legs() == []


def ami_unreachable(scene: Scene) -> None:
    nothing_dialled(scene)
    said_in_the_agi_log("AMI unreachable")(scene)


SEEN_HERE = {
    "single_accept": outside_channels_carry_uniqueids_like_asterisks_own,
    "no_press": declined_in_the_outside_context("t"),
    "wrong_key": declined_in_the_outside_context("i"),
    "press_while_the_answered_agi_runs_is_thrown_away": declined_in_the_outside_context("t"),
    "hang_up_before_pressing": lambda s: hung_up_in(s, s.outside_leg(A), OUTSIDE_CONTEXT),
    "no_answer": lambda s: hung_up_in(s, s.outside_leg(A)),
    "busy": lambda s: hung_up_in(s, s.outside_leg(A)),
    "multi_first_press_wins": losers_hung_up,
    "five_presses_one_winner": losers_hung_up,
    "multi_on_myisam": losers_hung_up,
    "agent_hangs_up_while_calls_ring": cut_while_ringing,
    "too_slow_while_the_winner_waits_for_a_conference": said_in_the_agi_log("no free conference"),
    "no_free_conference_the_agent_leg_gives_up": said_in_the_agi_log("no free conference"),
    "agent_timeout": lambda s: hung_up_in(s, s.outside_leg(A), OUTSIDE_CONTEXT),
    "ami_unreachable": ami_unreachable,
    "ami_refuses_login": nothing_dialled,
}


@pytest.mark.parametrize("scenario", CATALOGUE, ids=lambda s: s.name)
def test_scenario(request, scene, scenario):
    if scenario.not_on_asterisk:
        pytest.skip(scenario.not_on_asterisk)
    if scenario.per_call_only and scene.fastagi is not None:
        pytest.skip(scenario.per_call_only)
    set_up(request, scene, scenario)
    play(scene, [parse_party(p) for p in scenario.parties], dialstring=scenario.dialstring,
         agent_hangup=scenario.agent_hangup,
         outside=len(scenario.parties) if scenario.dials else 0)
    outcome = played(scene)
    check(scenario, outcome)
    agent_leg_ended(scene, scenario, outcome.bridged)
    SEEN_HERE.get(scenario.name, lambda s: None)(scene)


def test_every_check_here_has_a_scenario():
    assert set(SEEN_HERE) <= {s.name for s in CATALOGUE}


def test_press_during_the_agent_legs_hold_tone(scene):
    """The press stops the agent leg's hold tone (ControlPlayback) whenever it comes: not a
    party's moment but the agent leg's, so not in the catalogue."""
    scene.call(Party(A))
    agent_leg = scene.wait_channels("Local/49949907", 2)[-1]
    scene.wait_agi(agent_leg, "STREAM FILE hold_tone*")
    scene.press(A)
    scene.wait_settled(outside=1)
    bridged(scene, A)
