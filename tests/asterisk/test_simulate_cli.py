"""`press3way simulate --asterisk`: the simulator's party language on the real Asterisk."""

import pytest
from click.testing import CliRunner

from press3way.cli import main
from press3way_testing.asterisk.parties import NEVER, schedule_of
from press3way_testing.sim import parse_party


def test_what_a_party_does_counted_from_ringing_becomes_its_schedule():
    party = schedule_of(parse_party("7275551212:answer=0.5,press=1@1.2,hangup=9"))
    assert (party.mode, party.ring, party.digits) == ("answer", 0.5, "1")
    assert (party.press_at, party.hangup_at) == (pytest.approx(0.7), 8.5)
    prompt = schedule_of(parse_party("7275551212:answer=0.5,press=1@prompt+0.3"))
    assert (prompt.press_at, prompt.hangup_at) == (None, NEVER)     # cued, not scheduled
    assert schedule_of(parse_party("7275551213:noanswer")).mode == "noanswer"
    assert schedule_of(parse_party("7275551214:busy")).mode == "busy"


@pytest.mark.parametrize("party, refused", [
    ("7275551212:press=2@1,press=1@2", "one press counted from ringing"),
    ("7275551212:answer=2,press=1@1", "before answering"),
    ("7275551212:answer=2,hangup=1", "before answering")])
def test_what_a_schedule_cannot_hold_is_refused(party, refused):
    with pytest.raises(ValueError, match=refused):
        schedule_of(parse_party(party))


def test_simulate_on_the_real_asterisk(asterisk, mariadb):
    server = f"{mariadb['host']}:{mariadb['port']}:{mariadb['user']}:{mariadb['password']}"
    result = CliRunner().invoke(main, [
        "simulate", "--asterisk", "--server", server, "--timeouts",
        "agent=12,dial=6,press=4,accept=5", "--party", "7275551212:answer=0.3,press=1@prompt+0.2",
        "--party", "7275551213:noanswer"])
    assert result.exit_code == 0, result.output
    assert "joined ConfBridge 8600061" in result.output
    assert "Transfer" in result.output and "Defeated" in result.output
    assert "live rows left: 0" in result.output


def test_simulate_refuses_what_it_cannot_play(asterisk):
    result = CliRunner().invoke(main, ["simulate", "--asterisk", "--agent-hangup", "2"])
    assert result.exit_code == 2 and "not available with --asterisk" in result.output
