"""The stand-ins follow a real Asterisk (docs/behaviour.md, "The dialplan"): which digits are
kept or thrown away, WaitExten's time-out, sound lengths, STREAM FILE stopped by
ControlPlayback, Redirect.

Each test here is a claim about Asterisk; CLAIMS pairs it with the real-Asterisk test that
sees Asterisk 22 do the same (tests/asterisk/test_facts.py, or a scenario of the catalogue in
tests/asterisk/test_calls.py), or says why none does. A claim without either fails
`test_every_claim_is_checked_on_the_real_asterisk_or_says_why`.

No database: the dialplan rules run through the simulator on the small dialplans the real
Asterisk also runs (press3way_testing/standins/rules.py), the AGI rules through the fake-AGI
harness talking to a scripted AGI process.
Single-mode: these test the stand-ins themselves, not our legs (no FastAGI server involved).
"""

from __future__ import annotations

import os
import sys
import threading
import wave
from dataclasses import dataclass

import pytest

from press3way.telephony.ami import AMIClient
from press3way_testing.scenarios import BY_NAME
from press3way_testing.sim import SimCall, Simulation
from press3way_testing.standins import sounds
from press3way_testing.standins.channel import SimChannel
from press3way_testing.standins.dialplan_model import matches_more
from press3way_testing.standins.fakeagi import FakeAGI
from press3way_testing.standins.fakeami import FakeAMI
from press3way_testing.standins.rules import DIALPLAN

VICIDIAL_SOUNDS = "/work/shared/vicidial/sounds"


@dataclass(frozen=True)
class Unchecked:
    why: str


def fact(name: str) -> str:
    return f"tests/asterisk/test_facts.py::{name}"


def scenario(name: str) -> str:
    return f"tests/asterisk/test_calls.py::test_scenario[{name}]"


NO_REDIRECT = Unchecked("no leg sends Redirect (telephony/ami.py's redirect has no caller): "
                        "what Asterisk does with one is not on the call path")
CLAIMS = {     # claim (a test below) -> its real-Asterisk checks, or why it has none
    "test_waitexten_timeout_continues_at_the_next_priority":
        (fact("test_waitexten_time_out_continues_at_the_next_priority"),),
    "test_waitexten_timeout_without_a_next_priority_goes_to_t":
        (fact("test_waitexten_time_out_without_a_next_priority_goes_to_t"),),
    "test_waitexten_timeout_without_t_hangs_up":
        (fact("test_waitexten_time_out_without_t_hangs_up"),),
    "test_background_keeps_a_digit_pressed_during_any_of_its_files":    # in press-1, 2nd of 3
        (scenario("press_while_the_prompts_play"),
         fact("test_a_digit_during_playback_only_is_lost")),
    "test_a_digit_with_no_extension_goes_to_i": (scenario("wrong_key"),),
    "test_a_digit_during_playback_only_is_lost":
        (fact("test_a_digit_during_playback_only_is_lost"),),
    "test_asterisk_waits_for_more_digits_only_where_a_longer_extension_could_match":
        (fact("test_asterisk_collects_more_digits_where_a_longer_extension_could_match"),),
    "test_simulator_control_playback_stops_the_sound_of_the_channel_named":
        (fact("test_control_playback_stop_ends_a_dialplan_playback"),),
    "test_simulator_redirect_moves_an_answered_channel": NO_REDIRECT,
    "test_simulator_hangs_up_by_either_uniqueid_but_not_a_ringing_redirect":   # the hang-up part
        (fact("test_hangup_by_channel_id_of_a_ringing_local_channel"),),
    "test_digits_while_an_agi_script_runs_are_thrown_away":
        (fact("test_digits_between_agi_commands_are_thrown_away"),),
    "test_wait_for_digit_and_stream_file_escape_digits":
        (fact("test_stream_file_ends_on_an_escape_digit_only"),
         fact("test_wait_for_digit_takes_any_digit")),
    "test_stream_file_plays_the_real_sound_length":
        (fact("test_stream_file_plays_the_real_sound_length"),),
    "test_control_playback_stop_ends_stream_file_at_once":
        (fact("test_control_playback_stop_ends_an_agi_stream_file"),),
    "test_redirect_ends_the_agi_run_and_the_channel_lives_on": NO_REDIRECT,
    "test_uniqueid_is_in_the_agi_environment": (fact("test_uniqueid_is_in_the_agi_environment"),),
    "test_ami_names_a_call_by_either_half_and_either_uniqueid":    # the uniqueid our legs use
        (fact("test_hangup_by_channel_id_of_a_ringing_local_channel"),
         scenario("agent_hangs_up_while_calls_ring")),
    "test_vicidial_sound_lengths_are_read_from_the_files":       # hold_tone 3680, buzz 1760
        (fact("test_stream_file_plays_the_real_sound_length"),),
    "test_sound_lengths_by_format": Unchecked(
        "the stand-in's own arithmetic on .gsm/.wav/.ulaw sizes, not a behaviour of Asterisk; "
        "the lengths Asterisk plays: test_stream_file_plays_the_real_sound_length"),
}
# With sound_scale 2: Playback(buzz) 0-0.44 s, Background hold_tone 0.44-1.36 s, buzz 1.36-1.80 s.
# (WaitExten takes decimals here: the simulator sets only whole-second ones to its timeouts.)
SCALE = 2.0


def simulated_call(presses=(), scale: float = SCALE) -> tuple[Simulation, SimCall]:
    """A simulator (no database, no manager) with one answered call on it."""
    sim = Simulation(None, "", [], dialplan_text=DIALPLAN, sound_scale=scale)  # type: ignore[arg-type]
    call = SimCall("party", sim._channel("party", "Local/91@default-0001;1", presses=list(presses),
                                         uniqueid="1764000000.9"), "", "",
                   other_name="Local/91@default-0001;2", other_uniqueid="1764000000.9;2",
                   answered=True)
    sim.calls["party"] = call
    return sim, call


def dialplan_run(context: str, presses=()) -> tuple[list[str], str]:
    """Run `context`,s on a channel pressing `presses` (seconds, digit); what it did, where it
    ended."""
    sim, call = simulated_call(presses)
    sim.run_dialplan(call, context, "s")
    return [text for _, _, text in sim.timeline], call.ended


def in_background(sim: Simulation, call: SimCall, context: str) -> threading.Thread:
    thread = threading.Thread(target=sim.run_dialplan, args=(call, context, "s"))
    thread.start()
    return thread


def test_waitexten_timeout_continues_at_the_next_priority():
    steps, ended = dialplan_run("falls_through")
    assert "falls_through,s,2 NoOp(after WaitExten)" in steps
    assert not any(",t," in s for s in steps)
    assert ended.startswith("hung up (end of dialplan)")


def test_waitexten_timeout_without_a_next_priority_goes_to_t():
    steps, _ = dialplan_run("last_priority")
    assert "last_priority,t,1 NoOp(t reached)" in steps


def test_waitexten_timeout_without_t_hangs_up():
    _, ended = dialplan_run("no_t")
    assert ended.startswith("hung up (WaitExten timed out, no t)")


def test_background_keeps_a_digit_pressed_during_any_of_its_files():
    steps, _ = dialplan_run("prompts", [(0.2, "5"), (1.55, "1")])
    assert "pressed 5 (thrown away)" in steps          # during Playback
    assert "pressed 1" in steps and "dialled 1" in steps   # during Background's 2nd file
    assert "prompts,1,1 NoOp(one dialled)" in steps
    assert not any("WaitExten" in s for s in steps)


def test_a_digit_with_no_extension_goes_to_i():
    steps, _ = dialplan_run("prompts", [(0.9, "7")])
    assert "dialled 7" in steps and "prompts,i,1 NoOp(invalid)" in steps


def test_a_digit_during_playback_only_is_lost():
    steps, _ = dialplan_run("prompts", [(0.2, "1")])
    assert "pressed 1 (thrown away)" in steps
    assert not any("dialled" in s for s in steps)


def test_asterisk_waits_for_more_digits_only_where_a_longer_extension_could_match():
    steps, _ = dialplan_run("collect", [(0.1, "1"), (0.3, "2")])
    assert "dialled 12" in steps and "collect,12,1 NoOp(twelve dialled)" in steps
    assert matches_more("_49907.", "4") and matches_more("_49907.", "499071")
    assert not matches_more("1", "1") and not matches_more("_49907.", "5")
    assert matches_more("123", "12") and not matches_more("_X", "1")


def test_simulator_control_playback_stops_the_sound_of_the_channel_named():
    sim, call = simulated_call(scale=20)                          # outside-sales: 32 s
    running = in_background(sim, call, "long")
    assert call.channel.wait_until_playing(10)
    assert not sim.ami_control_playback("1764000000.8", "stop")  # no such channel
    assert sim.ami_control_playback("1764000000.9", "stop")      # by uniqueid
    running.join(10)
    steps = [text for _, _, text in sim.timeline]
    assert "AMI ControlPlayback stop (stopped the sound)" in steps
    assert "long,s,2 NoOp(after the sound)" in steps      # long before the sound's 32 s


def test_simulator_redirect_moves_an_answered_channel():
    sim, call = simulated_call(scale=20)
    running = in_background(sim, call, "long")
    assert call.channel.wait_until_playing(10)
    assert sim.ami_redirect("Local/91@default-0001;2", "target", "s", 1)   # the other half's name
    running.join(10)
    assert call.ended.startswith("hung up (end of dialplan) at target,s")
    steps = [text for _, _, text in sim.timeline]
    assert "target,s,1 NoOp(redirected here)" in steps
    assert "long,s,2 NoOp(after the sound)" not in steps


def test_simulator_hangs_up_by_either_uniqueid_but_not_a_ringing_redirect():
    sim, call = simulated_call()
    call.answered = False
    assert not sim.ami_redirect("1764000000.9", "target", "s", 1)
    assert sim.ami_hangup("1764000000.9;2") and call.channel.is_hung_up()
    assert not sim.ami_hangup("1764000000.9")                  # already gone


# --- AGI ---------------------------------------------------------------------------------
SCRIPTED_AGI = """\
import signal, sys
signal.signal(signal.SIGHUP, signal.SIG_IGN)     # told of a hang-up by 511 replies instead
env = {}
for line in sys.stdin:
    if not line.strip():
        break
    key, _, value = line.partition(": ")
    env[key] = value.strip()
n = 1
while f"agi_arg_{n}" in env:
    print(env[f"agi_arg_{n}"], flush=True)
    reply = sys.stdin.readline()
    while reply.strip() == "HANGUP":
        reply = sys.stdin.readline()
    n += 1
"""


@pytest.fixture
def scripted_agi(tmp_path):
    """Run an AGI process that sends the given commands, one by one."""
    script = tmp_path / "scripted.agi"
    script.write_text(SCRIPTED_AGI)

    def run(channel: SimChannel, commands: list[str], on_command=None):
        def observe(way: str, text: str) -> None:
            if way == "->" and on_command:
                on_command(text)
        return FakeAGI(str(script), channel, commands, interpreter=sys.executable,
                       observer=observe).run(timeout=30)
    return run


def replies(result) -> list[str]:
    return [text for _, way, text in result.transcript if way == "<-"]


def test_digits_while_an_agi_script_runs_are_thrown_away(scripted_agi):
    channel = SimChannel("SIP/x-1")
    heard = []
    channel.observer = lambda *what: heard.append(what)
    result = scripted_agi(channel, ["NOOP", "WAIT FOR DIGIT 100"],
                          on_command=lambda c: c == "NOOP" and channel.press("1"))
    assert replies(result) == ["200 result=0", "200 result=0"]      # NOOP's, as Asterisk's
    assert ("dtmf", "1", "thrown away") in heard


def test_wait_for_digit_and_stream_file_escape_digits(scripted_agi):
    channel = SimChannel("SIP/x-1", sound_scale=5)          # outside-sales: 8 s
    heard = []
    channel.observer = lambda *what: heard.append(what)

    def press(command: str) -> None:
        if command.startswith(("STREAM FILE", "WAIT FOR DIGIT")):
            channel.press_later(0.2, "5")
            channel.press_later(0.4, "1")
    result = scripted_agi(channel, ['STREAM FILE outside-sales "1" 0', "WAIT FOR DIGIT 10000"],
                          on_command=press)
    first, second = replies(result)
    assert first.startswith("200 result=49 endpos=")        # '1' is an escape digit, '5' is not
    assert second == "200 result=53"                        # WAIT FOR DIGIT takes any digit
    assert ("dtmf", "5", "thrown away") in heard


@pytest.mark.skipif(not os.path.isdir(VICIDIAL_SOUNDS),
                    reason=f"{VICIDIAL_SOUNDS} not on this machine")
def test_stream_file_plays_the_real_sound_length(scripted_agi):
    """hold_tone.gsm: 759 bytes, 23 GSM frames of 20 ms = 0.46 s = 3680 samples at 8 kHz."""
    result = scripted_agi(SimChannel("SIP/x-1", sound_scale=0.01),
                          ['STREAM FILE hold_tone "" 0', 'STREAM FILE buzz "" 0'])
    assert replies(result) == ["200 result=0 endpos=3680", "200 result=0 endpos=1760"]


def test_control_playback_stop_ends_stream_file_at_once(scripted_agi):
    channel = SimChannel("SIP/x-1", sound_scale=20)         # outside-sales: 32 s

    def stop_it() -> None:
        assert channel.wait_until_playing(10)
        with FakeAMI(on_control_playback=lambda ch, c: ch == channel.name and
                     c == "stop" and channel.stop_playback()) as ami:
            client = AMIClient(ami.host, ami.port).connect()
            client.login("cron", "1234")
            stopper.reply = client.request("ControlPlayback", [("Channel", channel.name),
                                                               ("Control", "stop")])
            client.logoff()
    stopper = threading.Thread(target=stop_it)
    result = scripted_agi(channel, ['STREAM FILE outside-sales "" 0', "NOOP"],
                          on_command=lambda c: c.startswith("STREAM") and stopper.start())
    stopper.join(10)
    assert stopper.reply["Response"] == "Success"
    reply = replies(result)[0]
    assert reply.startswith("200 result=0 endpos=")
    assert int(reply.rsplit("=", 1)[1]) < 1.6 * 8000         # stopped before the end


def test_redirect_ends_the_agi_run_and_the_channel_lives_on(scripted_agi):
    channel = SimChannel("SIP/x-1")
    result = scripted_agi(channel, ["NOOP", "WAIT FOR DIGIT 5000"],
                          on_command=lambda c: c == "NOOP"
                          and channel.redirect("default", "78600061"))
    assert replies(result)[-1].startswith("511")
    assert result.redirected and not result.hung_up
    assert channel.take_goto() == ("default", "78600061", 1) and not channel.is_hung_up()


def test_uniqueid_is_in_the_agi_environment(scripted_agi):
    channel = SimChannel("SIP/x-1", uniqueid="1764000000.42")
    run = FakeAGI("x", channel)
    assert "agi_uniqueid: 1764000000.42" in run.agi_environment()


def test_ami_names_a_call_by_either_half_and_either_uniqueid():
    call = SimCall("p", SimChannel("Local/91@default-0001;1", uniqueid="1764000000.5"), "", "",
                   other_name="Local/91@default-0001;2", other_uniqueid="1764000000.5;2")
    assert all(call.known_as(t) for t in ("Local/91@default-0001;1", "Local/91@default-0001;2",
                                          "1764000000.5", "1764000000.5;2", "/^Local\\/91@/"))
    assert not call.known_as("1764000000.6") and not call.known_as("Local/92@default-0001;1")


# --- sounds ------------------------------------------------------------------------------
@pytest.mark.skipif(not os.path.isdir(VICIDIAL_SOUNDS),
                    reason=f"{VICIDIAL_SOUNDS} not on this machine")
def test_vicidial_sound_lengths_are_read_from_the_files():
    assert sounds.seconds("hold_tone", (VICIDIAL_SOUNDS,)) == pytest.approx(0.46)
    assert sounds.seconds("buzz", (VICIDIAL_SOUNDS,)) == pytest.approx(0.22)
    assert sounds.seconds("sip-silence", (VICIDIAL_SOUNDS,)) == pytest.approx(0.02)


def test_sound_lengths_by_format(tmp_path):
    (tmp_path / "a.gsm").write_bytes(b"\0" * 33 * 50)                  # 50 frames of 20 ms
    with wave.open(str(tmp_path / "b.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 12000)
    (tmp_path / "c.ulaw").write_bytes(b"\0" * 4000)
    found = [sounds.seconds(name, (str(tmp_path),)) for name in ("a", "b", "c")]
    assert found == pytest.approx([1.0, 1.5, 0.5])
    assert sounds.seconds("hold_tone", (str(tmp_path),)) == 0.46      # no file: the known length
    assert sounds.files("outside-sales&press-1&now") == ["outside-sales", "press-1", "now"]


# --- the claims' pairs --------------------------------------------------------------------
def real_checks() -> set[str]:
    """Every real-Asterisk check a claim may name: the facts, and the catalogue's scenarios
    that the real Asterisk plays."""
    from tests.asterisk import test_facts
    return {fact(n) for n in dir(test_facts) if n.startswith("test_")} | \
        {scenario(s.name) for s in BY_NAME.values() if not s.not_on_asterisk}


def test_every_claim_is_checked_on_the_real_asterisk_or_says_why():
    claims = {n for n in globals() if n.startswith("test_")} - {
        "test_every_claim_is_checked_on_the_real_asterisk_or_says_why"}
    assert claims == set(CLAIMS), "a claim without its pair in CLAIMS, or a pair without its claim"
    known = real_checks()
    for claim, pair in CLAIMS.items():
        if isinstance(pair, Unchecked):
            assert len(pair.why) > 20, claim
        else:
            assert pair and set(pair) <= known, (claim, set(pair) - known)
