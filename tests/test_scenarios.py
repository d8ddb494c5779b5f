"""Whole calls through our extensions_custom.conf: the simulator plays Asterisk (fake AMI,
fake AGI, the dialplan), the AGI scripts run for real against the real MariaDB, each step as a
process of its own and through the FastAGI server."""

from __future__ import annotations

import pytest

from press3way import events as ev
from press3way.database import execute
from press3way_testing.sim import SimResult, Timeouts
from tests.helpers import play

FAST = Timeouts(agent=8, dial=4, press=2, accept=5)
pytestmark = pytest.mark.usefixtures("agi_mode")


def simulate(site, *parties: str, **options) -> SimResult:
    options.setdefault("timeouts", FAST)
    result = play(site, parties, **options)
    assert result.live_rows == 0, result.format()
    return result


def events(result: SimResult, phone: str) -> list[str]:
    row = next(r for r in result.log_rows if r["phone_number"] == phone)
    return [e for e, _ in ev.parse_result(row["result"])]


def terminal(result: SimResult) -> dict[str, str]:
    return {r["phone_number"]: ev.terminal_event(r["result"]) for r in result.log_rows}


def steps(result: SimResult, who: str) -> list[str]:
    return [text for _, w, text in result.timeline if w == who]


def party_heard_buzz(result: SimResult, exten: str) -> bool:
    """The outside party went through `exten` (t or i): declined, then Playback(buzz)."""
    done = steps(result, "7275551212")
    return (f"xfer_press_dialplan,{exten},1 AGI(agi-3way_press_outside.agi,declined)" in done
            and f"xfer_press_dialplan,{exten},2 Playback(buzz)" in done)


def agent_heard_buzz(result: SimResult) -> bool:
    return any(who == "agent" and "STREAM FILE buzz" in text for _, who, text in result.timeline)


@pytest.mark.parametrize("conf_engine, exten", [("MEETME", "78600061"), ("CONFBRIDGE", "88600061")])
def test_single_accept(site, conf_engine, exten):
    result = simulate(site, "7275551212:answer=0.3,press=1@prompt+0.1", conf_engine=conf_engine)
    assert events(result, "7275551212") == ["Started", "Answered", "Accepted", "Reserved",
                                            "Transfer"]
    assert result.log_rows[0]["call_transfer"] == "Y"
    assert result.calls["agent"] == f"in conference 8600061 (default,{exten})"
    assert result.calls["7275551212"] == f"in conference 8600061 (default,{exten})"


def test_no_press_is_declined_and_the_agent_hears_buzz(site):
    """WaitExten times out, continues at its next priority (Goto(t,1)): declined, buzz."""
    result = simulate(site, "7275551212:answer=0.3")
    assert events(result, "7275551212") == ["Started", "Answered", "Declined"]
    assert "xfer_press_dialplan,s,7 Goto(t,1)" in steps(result, "7275551212")
    assert party_heard_buzz(result, "t")
    assert result.calls["7275551212"].startswith("hung up (Hangup())")
    assert agent_heard_buzz(result)
    assert result.calls["agent"].startswith("hung up")


def test_wrong_key_is_declined(site):
    result = simulate(site, "7275551212:answer=0.3,press=5@prompt+0.1")
    assert events(result, "7275551212") == ["Started", "Answered", "Declined"]
    assert party_heard_buzz(result, "i")
    assert agent_heard_buzz(result)


def test_hangup_before_pressing(site):
    result = simulate(site, "7275551212:answer=0.3,hangup=0.7")
    assert events(result, "7275551212") == ["Started", "Answered", "Hungup"]
    assert result.calls["7275551212"].startswith("hung up (party hung up)")
    assert agent_heard_buzz(result)


def test_no_answer(site):
    result = simulate(site, "7275551212:noanswer", timeouts=Timeouts(agent=8, dial=1, press=2))
    assert events(result, "7275551212") == ["Started", "Hungup"]
    assert result.calls["7275551212"] == "no answer"
    assert agent_heard_buzz(result)


def test_busy(site):
    result = simulate(site, "7275551212:busy")
    assert events(result, "7275551212") == ["Started", "Hungup"]
    assert result.calls["7275551212"] == "busy"


def test_multi_call_first_to_press_wins(site):
    result = simulate(site, "7275551212:answer=0.2,press=1@prompt+0.1",
                      "7275551213:answer=0.2,press=1@prompt+0.6", "7275551214:noanswer")
    assert len(result.log_rows) == 3
    assert events(result, "7275551212")[-1] == "Transfer"
    assert terminal(result)["7275551213"] in ("Defeated", "Too Slow")
    assert terminal(result)["7275551214"] == "Defeated"
    assert result.calls["7275551214"] == "hung up while ringing (AMI Hangup)"
    assert result.calls["agent"].startswith("in conference")
    ids = [r["call_3way_id"] for r in result.log_rows]
    assert len(set(ids)) == 3 and all(len(i) <= 20 for i in ids)


def test_five_simultaneous_presses_one_winner(site):
    numbers = [f"72755512{n:02d}" for n in range(10, 15)]
    result = simulate(site, *(f"{n}:answer=0.2,press=1@prompt+0.1" for n in numbers))
    ends = terminal(result)
    assert sorted(ends.values()).count("Transfer") == 1
    assert all(e in ("Transfer", "Too Slow", "Defeated") for e in ends.values()), ends
    assert sum(1 for end in result.calls.values() if end.startswith("in conference")) == 2


def test_agent_hangs_up_while_calls_ring(site):
    result = simulate(site, "7275551212:noanswer", "7275551213:noanswer", agent_hangup=1.0)
    assert terminal(result) == {"7275551212": "Agent Gone", "7275551213": "Agent Gone"}
    assert result.calls["7275551212"] == "hung up while ringing (AMI Hangup)"
    assert result.calls["7275551213"] == "hung up while ringing (AMI Hangup)"


def test_ami_unreachable_buzzes_at_once(site):
    result = simulate(site, "7275551212:answer=0.3,press=1@prompt+0.1", ami_up=False)
    assert events(result, "7275551212") == ["Started", "Hungup"]
    buzz = next(t for t, who, text in result.timeline if who == "agent" and "buzz" in text)
    start = next(t for t, who, text in result.timeline if who == "agent" and "AGI(" in text)
    assert buzz - start < 1.5
    assert "7275551212" not in result.calls            # nothing was dialled


def test_ami_login_refused(site):
    result = simulate(site, "7275551212:answer=0.3", ami_users={"cron": "not-1234"})
    assert events(result, "7275551212") == ["Started", "Hungup"]
    assert agent_heard_buzz(result)


def test_dialstring_with_non_digits_rings_only_its_digits(site):
    """The dialplan's FILTER keeps only digits, * and # for Dial() (the agent leg's own refusal
    of other text, which only a forged environment can now bring: test_hostile)."""
    result = simulate(site, "7275551212:answer=0.3", dialstring="9172755'51212")
    assert [r["phone_number"] for r in result.log_rows] == ["7275551212"], result.format()


def test_no_free_conference_waits_then_times_out(site):
    def fill(s):
        execute(s.connect(), "UPDATE vicidial_conferences SET extension = 'SIP/busy'")
    result = simulate(site, "7275551212:answer=0.2,press=1@prompt+0.1", prepare=fill,
                      timeouts=Timeouts(agent=3, dial=2, press=2, accept=10))
    assert events(result, "7275551212") == ["Started", "Answered", "Accepted", "Timeout"]
    assert agent_heard_buzz(result)
    assert result.calls["7275551212"].startswith("hung up")


def test_press_while_the_prompts_play_is_kept(site):
    """Real sound lengths: a press in the middle of Background(outside-sales&press-1&now)
    dials 1 at once; WaitExten never runs."""
    result = simulate(site, "7275551212:answer=0.3,press=1@prompt_start+1.5", sound_scale=1.0)
    assert events(result, "7275551212")[-1] == "Transfer"
    done = steps(result, "7275551212")
    assert "pressed 1" in done and "dialled 1" in done
    assert not any("WaitExten" in step for step in done)


def test_press_while_the_answered_agi_runs_is_thrown_away(site):
    """res_agi throws away digits that arrive while a script runs: a press 10 ms after answering
    lands in the `answered` stage, so the party has not pressed anything the dialplan saw."""
    if site.fastagi is not None:
        pytest.skip("over FastAGI the answered stage is over within 10 ms: nothing to throw away")
    result = simulate(site, "7275551212:answer=0.3,press=1@0.31")
    assert "pressed 1 (thrown away)" in steps(result, "7275551212")
    assert events(result, "7275551212") == ["Started", "Answered", "Declined"]
