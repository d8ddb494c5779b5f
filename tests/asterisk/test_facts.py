"""Facts about the real Asterisk 22 that the call flow's design and the stand-ins depend on
(docs/behaviour.md, "The dialplan"): each stand-in claim of tests/test_standins.py names the
fact here (or the catalogue's scenario) that sees Asterisk do the same.

Asterisk's own behaviour, the same whichever way the scripts run: checked once, per-call. The
AGI rules are seen through a FastAGI peer of the test's own (res_agi runs the same command
loop for a process's pipes and a FastAGI socket)."""

import re
import socket

import pytest

from press3way_testing.asterisk import manager, parties
from press3way_testing.asterisk.modes import PER_CALL
from press3way_testing.asterisk.parties import Party
from press3way_testing.standins import rules as rules_dialplan

pytestmark = pytest.mark.parametrize("agi_mode", [PER_CALL], indirect=True)

A = "7275551212"
HOLD_TONE_SAMPLES = 3680         # VICIdial's hold_tone.gsm: 0.46 s at 8 kHz


def test_control_playback_stop_ends_an_agi_stream_file(scene):
    """AMI `ControlPlayback Control: stop` during the agent leg's `STREAM FILE hold_tone`: the
    reply the script reads (Asterisk's `agi set debug on` logs it) and when the sound ended."""
    scene.rec.action("Command", Command="agi set debug on")
    scene.call(Party(A))
    agent_leg = scene.wait_channels("Local/49949907", 2)[-1]
    started = scene.wait_agi(agent_leg, "STREAM FILE hold_tone*")
    reply = scene.rec.action("ControlPlayback", Channel=agent_leg, Control="stop")
    end = scene.rec.wait_event("AGIExecEnd", 5, since=started.at, Channel=agent_leg,
                               Command="STREAM FILE hold_tone*")[0]
    scene.rec.action("Command", Command="agi set debug off")
    replies = [line for line in scene.asterisk_log().splitlines()
               if "AGI Tx >>" in line and agent_leg in line]
    print("ControlPlayback reply:", reply, "after", round(end.at - started.at, 3), "s; AGI:",
          replies[-3:])
    assert reply.get("Response") == "Success", reply
    # as if the sound had ended, at the position where it was stopped (hold_tone: 3680 samples)
    wire = replies[-1].split("AGI Tx >> ")[1]
    assert re.fullmatch(r"200 result=0 endpos=\d+", wire), wire
    assert int(wire.split("=")[-1]) < HOLD_TONE_SAMPLES, wire
    scene.hang_up_agent()
    scene.wait_settled(outside=1)


def test_hangup_by_channel_id_of_a_ringing_local_channel(scene):
    """AMI Hangup with the uniqueid given as Originate's ChannelId cuts a Local channel that is
    still ringing (an outside call the agent leg must end before anybody answers)."""
    parties.arrange(scene.rec, Party(A, mode="noanswer"))
    channel_id = manager.unique_id("T2AHIPROBE")
    manager.originate(scene.rec, f"Local/9{A}@default", "default", "person", "probe",
                      channel_id)
    scene.rec.wait_event("Newexten", 10, since=scene.since, Application="Wait",
                         Context="press3way-party")
    assert not scene.events("OriginateResponse", Uniqueid=channel_id), "answered or failed"
    scene.hang_up(channel_id)
    hangup = scene.rec.wait_event("Hangup", 5, since=scene.since, Uniqueid=channel_id)[0]
    assert hangup["Channel"].startswith(f"Local/9{A}@default-") and hangup["Channel"].endswith(";1")
    assert not scene.events("Newexten", Channel=scene.party_channel(A), Application="Answer")


def test_a_hangup_sent_just_after_an_async_originate_may_find_no_channel_until_newchannel(
        scene, capsys):
    """Asterisk makes an async Originate's channel in a thread of its own: a Hangup by its
    ChannelId sent at once can come first ("No such channel"); once the channel's Newchannel
    event is out, the same Hangup cuts it (what the agent leg does when it is hung up just
    after placing a call: `Batch._not_made_yet`)."""
    parties.arrange(scene.rec, Party(A, mode="noanswer"))
    too_early = 0
    for _ in range(20):
        channel_id = manager.unique_id("T2EARLY")
        manager.originate(scene.rec, f"Local/9{A}@default", "default", "person", "probe",
                          channel_id)
        reply = scene.rec.action("Hangup", Channel=channel_id)
        if reply.get("Response") != "Success":
            assert reply.get("Message") == "No such channel", reply
            too_early += 1
            scene.rec.wait_event("Newchannel", 10, since=scene.since, Uniqueid=channel_id)
            scene.hang_up(channel_id)
        scene.rec.wait_event("Hangup", 5, since=scene.since, Uniqueid=channel_id)
    with capsys.disabled():
        print(f"\n[fact] {too_early} of 20 Hangups sent at once after an async Originate "
              "found no channel yet")


# --- the stand-ins' rules (press3way_testing/standins/rules.py) on the real Asterisk --------
SHORTEST_PRESS_MS = "80"         # Asterisk's shortest DTMF: over before a 0.22 s Playback ends


class AGIPeer:
    """The test's own end of a FastAGI connection: Asterisk connects, the test sends AGI
    commands and reads the replies, one at a time (the same wire as a process's stdin/out)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.wire = None

    def accept(self, timeout: float = 10.0) -> dict[str, str]:
        """Await Asterisk's connection; the AGI environment it sent."""
        self.listener.settimeout(timeout)
        conn, _ = self.listener.accept()
        conn.settimeout(timeout)
        self.wire = conn.makefile("rw", encoding="utf-8", newline="\n")
        env = {}
        for line in self.wire:
            if not line.strip():
                return env
            key, _, value = line.partition(": ")
            env[key] = value.strip()
        raise AssertionError(f"the AGI environment ended early: {env}")

    def send(self, command: str) -> None:
        self.wire.write(command + "\n")
        self.wire.flush()

    def reply(self) -> str:
        return self.wire.readline().strip()

    def close(self) -> None:
        if self.wire is not None:
            self.wire.close()
        self.listener.close()


@pytest.fixture
def peer():
    agi = AGIPeer()
    yield agi
    agi.close()


@pytest.fixture
def rules(scene, peer):
    """Our block, the stand-ins' rule contexts, and [agi_fact] connecting to `peer`."""
    scene.instance.load_block(scene.instance.block + rules_dialplan.DIALPLAN +
                              f"[agi_fact]\nexten => s,1,AGI(agi://127.0.0.1:{peer.port}/fact)\n"
                              "exten => s,n,Hangup()\n")
    return scene


def enter(scene, context: str) -> str:
    """An answered channel running `context`,s: the `;1` half of a Local channel whose other
    half, a stand-in person, answers at once. Its name."""
    channel_id = manager.unique_id("FACT")
    manager.originate(scene.rec, "Local/person@default", context, "s", "fact", channel_id)
    created = scene.rec.wait_event("Newchannel", 10, since=scene.since, Uniqueid=channel_id)
    return created[0]["Channel"]


def press(scene, channel: str, digit: str, ms: str = str(parties.PRESS_MS)) -> None:
    """The person on the other half presses `digit`; returns when the key is released."""
    reply = scene.rec.action("PlayDTMF", Channel=channel[:-1] + "2", Digit=digit, Duration=ms)
    assert reply.get("Response") == "Success", reply


def steps(scene, channel: str) -> list[str]:
    """`context,exten,priority App(data)` for each step `channel` ran in the rules' contexts
    (not its start in [default], where Asterisk notes the Originate's dial)."""
    return [f"{e['Context']},{e['Exten']},{e['Priority']} {e['Application']}({e['AppData']})"
            for e in scene.events("Newexten", Channel=channel) if e["Context"] != "default"]


def ended(scene, channel: str) -> list[str]:
    """Await `channel`'s hang-up; the steps it ran."""
    scene.rec.wait_event("Hangup", 10, since=scene.since, Channel=channel)
    return steps(scene, channel)


def test_waitexten_time_out_continues_at_the_next_priority(rules):
    done = ended(rules, enter(rules, "falls_through"))
    assert "falls_through,s,2 NoOp(after WaitExten)" in done
    assert not any(",t," in step for step in done), done


def test_waitexten_time_out_without_a_next_priority_goes_to_t(rules):
    assert "last_priority,t,1 NoOp(t reached)" in ended(rules, enter(rules, "last_priority"))


def test_waitexten_time_out_without_t_hangs_up(rules):
    channel = enter(rules, "no_t")
    assert ended(rules, channel) == ["no_t,s,1 WaitExten(0.2)"]


def test_a_digit_during_playback_only_is_lost(rules):
    channel = enter(rules, "prompts")
    rules.wait_app(channel, "Playback")
    press(rules, channel, "1", SHORTEST_PRESS_MS)
    done = ended(rules, channel)
    assert not any(step.startswith(("prompts,1,", "prompts,i,")) for step in done), done


def test_asterisk_collects_more_digits_where_a_longer_extension_could_match(rules):
    channel = enter(rules, "collect")
    rules.wait_app(channel, "WaitExten")
    press(rules, channel, "1")
    press(rules, channel, "2")
    assert "collect,12,1 NoOp(twelve dialled)" in ended(rules, channel)


def test_control_playback_stop_ends_a_dialplan_playback(rules):
    """By the channel's uniqueid, as the simulator is asked: the next priority runs at once,
    not after the prompt's 1.6 s (a bound ten times wider than the stop takes)."""
    channel = enter(rules, "long")
    started = rules.wait_app(channel, "Playback")[0]
    uniqueid = rules.events("Newchannel", Channel=channel)[0]["Uniqueid"]
    reply = rules.rec.action("ControlPlayback", Channel=uniqueid, Control="stop")
    after = rules.rec.wait_event("Newexten", 5, since=started.at, Channel=channel,
                                 AppData="after the sound")[0]
    assert reply.get("Response") == "Success", reply
    assert after.at - started.at < 0.8


def test_digits_between_agi_commands_are_thrown_away(rules, peer):
    channel = enter(rules, "agi_fact")
    peer.accept()
    peer.send("NOOP")
    noop = peer.reply()
    press(rules, channel, "1")
    rules.rec.wait_event("DTMFEnd", 5, since=rules.since, Channel=channel)
    peer.send("WAIT FOR DIGIT 100")
    assert (noop, peer.reply()) == ("200 result=0", "200 result=0")


def test_stream_file_ends_on_an_escape_digit_only(rules, peer):
    channel = enter(rules, "agi_fact")
    peer.accept()
    peer.send('STREAM FILE outside-sales "1" 0')
    rules.wait_agi(channel, "STREAM FILE*")
    press(rules, channel, "5")                               # not an escape digit
    press(rules, channel, "1")
    streamed = peer.reply()
    assert streamed.startswith("200 result=49 endpos="), streamed


def test_wait_for_digit_takes_any_digit(rules, peer):
    """(Its own call: a key pressed just after STREAM FILE ended on an escape digit never
    ends on this Asterisk, a Local channel's DTMF quirk the legs never meet.)"""
    channel = enter(rules, "agi_fact")
    peer.accept()
    peer.send("WAIT FOR DIGIT 10000")
    rules.wait_agi(channel, "WAIT FOR DIGIT*")
    press(rules, channel, "5")
    assert peer.reply() == "200 result=53"


def test_stream_file_plays_the_real_sound_length(rules, peer):
    enter(rules, "agi_fact")
    peer.accept()
    found = []
    for sound in ("hold_tone", "buzz"):
        peer.send(f'STREAM FILE {sound} "" 0')
        found.append(peer.reply())
    assert found == ["200 result=0 endpos=3680", "200 result=0 endpos=1760"]


def test_uniqueid_is_in_the_agi_environment(rules, peer):
    channel = enter(rules, "agi_fact")
    env = peer.accept()
    assert env["agi_uniqueid"] == rules.events("Newchannel", Channel=channel)[0]["Uniqueid"]
