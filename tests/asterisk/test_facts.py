"""Facts about the real Asterisk 22 that the call flow's design depends on
(docs/behaviour.md, "The dialplan").

Asterisk's own behaviour, the same whichever way the scripts run: checked once, per-call."""

import re

import pytest

from press3way_testing.asterisk import manager, parties
from press3way_testing.asterisk.modes import PER_CALL
from press3way_testing.asterisk.parties import Party

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
