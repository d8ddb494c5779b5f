"""The scenario catalogue (press3way_testing/scenarios.py) played by the simulator: the fake
AMI, the fake AGI and the dialplan play Asterisk, the AGI scripts run for real against the
real MariaDB, each step as a process of its own and through the FastAGI server.

Every scenario's outcome is checked by the catalogue; what only the simulator shows (its
timeline of dialplan steps, where each channel ended) is checked here, per scenario."""

from __future__ import annotations

import dataclasses

import pytest

from press3way_testing.scenarios import (
    AGENT_GONE,
    BUZZ,
    CATALOGUE,
    TRANSFER,
    A,
    C,
    Played,
    Scenario,
    check,
    row_events,
    unplayed,
)
from press3way_testing.sim import SimResult, Timeouts
from tests.conftest import _fresh
from tests.helpers import play

# short timeouts, so every outcome comes within seconds (a scenario's own win)
FAST = Timeouts(agent=8, dial=4, press=2, accept=5)
OUTSIDE = A
pytestmark = pytest.mark.usefixtures("agi_mode")


@pytest.fixture
def scenario_site(request):
    """An empty site of the scenario's engine, in the test's AGI mode."""
    engine = request.getfixturevalue("scenario").engine
    site = _fresh(request.getfixturevalue(f"{engine.lower()}_site"), request, engine)
    yield site
    site.fastagi = None


def simulate(site, scenario: Scenario) -> SimResult:
    return play(site, scenario.parties, timeouts=dataclasses.replace(FAST, **scenario.timeouts),
                conf_engine=scenario.conf_engine, dialstring=scenario.dialstring,
                agent_hangup=scenario.agent_hangup, prepare=scenario.prepare,
                sound_scale=1.0 if scenario.real_sounds else 0.1)


def steps(result: SimResult, who: str) -> list[str]:
    return [text for _, w, text in result.timeline if w == who]


def agent_heard_buzz(result: SimResult) -> bool:
    return any(who == "agent" and "STREAM FILE buzz" in text for _, who, text in result.timeline)


def played(result: SimResult) -> Played:
    """What the catalogue checks, from the simulator's result."""
    agent_end = result.calls["agent"]
    bridged = [label for label, end in result.calls.items()
               if label != "agent" and end == agent_end and end.startswith("in conference")]
    if bridged:
        agent = TRANSFER
    elif agent_heard_buzz(result):
        agent = BUZZ
    elif agent_end.startswith("hung up (party hung up)"):     # the agent's own hang-up
        agent = AGENT_GONE
    else:
        agent = agent_end
    return Played(row_events(result.log_rows), result.live_rows, agent,
                  bridged[0] if bridged else "", result.format())


# --- what only the simulator shows: a predicate per scenario -----------------------------------
def party_heard_buzz(result: SimResult, exten: str) -> bool:
    """The outside party went through `exten` (t or i): declined, then Playback(buzz)."""
    done = steps(result, OUTSIDE)
    return (f"xfer_press_dialplan,{exten},1 AGI(agi-3way_press_outside.agi,declined)" in done
            and f"xfer_press_dialplan,{exten},2 Playback(buzz)" in done)


def in_conference(result: SimResult, exten: str) -> bool:
    return result.log_rows[0]["call_transfer"] == "Y" and \
        result.calls["agent"] == result.calls[OUTSIDE] == f"in conference 8600061 (default,{exten})"


def ended(result: SimResult, how: str) -> bool:
    return result.calls[OUTSIDE].startswith(how)


def buzzed_at_once(result: SimResult) -> bool:
    """The agent leg played buzz within 1.5 s of starting, and dialled nothing."""
    buzz = next(t for t, who, text in result.timeline if who == "agent" and "buzz" in text)
    start = next(t for t, who, text in result.timeline if who == "agent" and "AGI(" in text)
    return buzz - start < 1.5 and OUTSIDE not in result.calls


def dialled_during_the_prompts(result: SimResult) -> bool:
    done = steps(result, OUTSIDE)
    return {"pressed 1", "dialled 1"} <= set(done) and not any("WaitExten" in s for s in done)


def declined_at_t(result: SimResult) -> bool:
    """WaitExten timed out and went on at its next priority, Goto(t,1)."""
    return "xfer_press_dialplan,s,7 Goto(t,1)" in steps(result, OUTSIDE) and \
        party_heard_buzz(result, "t") and ended(result, "hung up (Hangup())")


def losers_cut_with_ids_of_their_own(result: SimResult) -> bool:
    ids = [row["call_3way_id"] for row in result.log_rows]
    return result.calls[C] == "hung up while ringing (AMI Hangup)" and \
        len(set(ids)) == 3 and all(len(i) <= 20 for i in ids)


def pressed_once_all_heard_the_prompts(result: SimResult) -> bool:
    """Every party pressing together pressed after the last of them started WaitExten."""
    waits = [t for t, _, text in result.timeline if " WaitExten(" in text]
    presses = [t for t, who, text in result.timeline if text == "pressed 1"]
    return len(waits) == len(presses) == 5 and min(presses) >= max(waits)


def cut_while_ringing(result: SimResult) -> bool:
    return all(end == "hung up while ringing (AMI Hangup)"
               for who, end in result.calls.items() if who != "agent")


SEEN_HERE = {
    "single_accept": lambda r: in_conference(r, "88600061"),
    "single_accept_meetme": lambda r: in_conference(r, "78600061"),
    "press_while_the_prompts_play": dialled_during_the_prompts,
    "press_while_the_answered_agi_runs_is_thrown_away":
        lambda r: "pressed 1 (thrown away)" in steps(r, OUTSIDE),
    "no_press": declined_at_t,
    "wrong_key": lambda r: party_heard_buzz(r, "i"),
    "hang_up_before_pressing": lambda r: ended(r, "hung up (party hung up)"),
    "no_answer": lambda r: ended(r, "no answer"),
    "busy": lambda r: ended(r, "busy"),
    "multi_first_press_wins": losers_cut_with_ids_of_their_own,
    "five_presses_one_winner": pressed_once_all_heard_the_prompts,
    "agent_hangs_up_while_calls_ring": cut_while_ringing,
    "ami_unreachable": buzzed_at_once,
}


@pytest.mark.parametrize("scenario", CATALOGUE, ids=lambda s: s.name)
def test_scenario(scenario_site, scenario):
    if scenario.not_simulated:
        pytest.skip(scenario.not_simulated)
    if scenario.per_call_only and scenario_site.fastagi is not None:
        pytest.skip(scenario.per_call_only)
    result = simulate(scenario_site, scenario)
    check(scenario, played(result))
    assert SEEN_HERE.get(scenario.name, lambda r: True)(result), result.format()


def test_every_scenario_has_a_runner_and_every_check_here_a_scenario():
    assert unplayed() == []
    assert set(SEEN_HERE) <= {s.name for s in CATALOGUE}
