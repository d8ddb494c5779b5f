"""`press3way simulate --asterisk`: the simulator's parties, played on the real Asterisk.

The parties' schedules become AstDB schedules (parties.py): a press `@prompt+S` is placed S
seconds after the generated prompts end, as a person presses after "now".
"""

from __future__ import annotations

from typing import Callable

from press3way_testing import sim
from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts
from press3way_testing.asterisk.parties import NEVER, Party
from press3way_testing.asterisk.recorder import Event
from press3way_testing.asterisk.scene import Scene
from press3way_testing.asterisk.session import running_scene
from press3way_testing.asterisk.sounds import PROMPT_SECONDS
from press3way_testing.demo import dialplan_text

ANSWERED_STAGE_S = 0.15        # answer -> prompts start (the `answered` stage), about
SHOWN = ("Newchannel", "OriginateResponse", "DTMFEnd", "ConfbridgeJoin", "ConfbridgeLeave",
         "Hangup", "AGIExecStart")


def party_from_sim(p: sim.Party) -> Party:
    """The same behaviour as an AstDB schedule; ValueError for what it cannot express."""
    presses = [(at - (p.answer or 0.0), digit) for at, digit in p.presses]
    presses += [(ANSWERED_STAGE_S + sum(PROMPT_SECONDS.values()) + delay, digit)
                for delay, digit in p.after_prompt]
    if len(presses) > 1:
        raise ValueError(f"{p.number}: one press per party on the real Asterisk")
    ring = p.answer if p.answer is not None else 0.3
    mode = "busy" if p.busy else "noanswer" if p.answer is None else "answer"
    hangup_at = NEVER if p.hangup is None else p.hangup - ring
    press_at, digits = presses[0] if presses else (None, "1")
    return Party(p.number, mode, ring, press_at, digits, hangup_at)


def who(channel: str) -> str:
    """`agent`, the party's number, or what the Local channel dials (`person`, the session)."""
    if channel.startswith("Local/49949907"):
        return "agent"
    dialled = channel.split("@")[0].replace("Local/", "")
    return dialled[1:] if channel.startswith("Local/9") else dialled


def describe(event: Event) -> tuple[str, str]:
    """(who, what) for one event of the timeline."""
    channel = event["Channel"]
    what = {"Newchannel": f"new channel {channel}",
            "OriginateResponse": f"originate {event['Response']} (reason {event['Reason']})",
            "DTMFEnd": f"pressed {event['Digit']}",
            "ConfbridgeJoin": f"joined ConfBridge {event['Conference']}",
            "ConfbridgeLeave": f"left ConfBridge {event['Conference']}",
            "Hangup": f"hung up ({event['Cause-txt']}) in {event['Context']},{event['Exten']}",
            "AGIExecStart": f"AGI -> {event['Command']}"}[event.name]
    return who(channel), what


def run(parties: list[sim.Party], timeouts: sim.Timeouts, *, server: dict | None = None,
        engine: str = "InnoDB", dialplan_file: str | None = None,
        out: Callable[[str], None] | None = None) -> sim.SimResult:
    flags = Timeouts(timeouts.agent, timeouts.dial, timeouts.press, timeouts.accept)
    block = block_with_timeouts(dialplan_text(dialplan_file), flags)
    people = [party_from_sim(p) for p in parties]
    with running_scene(block, server, engine) as scene:
        scene.begin()
        scene.call(*people)
        scene.wait_settled(len(people), timeout=timeouts.agent + timeouts.dial + 30)
        timeline = [(e.at - scene.since, *describe(e)) for e in scene.rec.events
                    if e.at >= scene.since and e.name in SHOWN]
        if out is not None:
            for t, party, what in timeline:
                out(f"{t:8.3f}  {party:<12} {what}")
        legs = [scene.agent_leg(), *scene.outside_legs()]
        calls = {who(c): _where(scene, c) for c in legs if c}
        result = sim.SimResult(timeline, calls, scene.log_rows(), len(scene.live_rows()), [])
        scene.end()
    return result


def _where(scene: Scene, channel: str) -> str:
    ending = scene.ending(channel)
    if ending.hung_up:
        return f"hung up ({ending.cause}) in {ending.context},{ending.exten}"
    rooms = [e["Conference"] for e in scene.events("ConfbridgeJoin", Channel=channel)]
    return f"in ConfBridge {rooms[-1]}" if rooms else "still up"
