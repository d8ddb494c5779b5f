"""The simulator's parties played on the real Asterisk: `press3way simulate --asterisk`, and
the scenario catalogue's real-Asterisk runner (tests/asterisk/test_calls.py).

Each party as written: what it does counted from ringing in its AstDB schedule, its presses
counted from the prompts cued by its outside leg's BackGround or WaitExten (parties.py).
"""

from __future__ import annotations

import time
from typing import Callable

from press3way_testing import sim
from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts
from press3way_testing.asterisk.parties import Cues, schedule_of
from press3way_testing.asterisk.recorder import Event
from press3way_testing.asterisk.scene import DIAL_PREFIX, SETTLE_TIMEOUT_S, Scene
from press3way_testing.asterisk.session import running_scene
from press3way_testing.demo import dialplan_text

SHOWN = ("Newchannel", "OriginateResponse", "DTMFEnd", "ConfbridgeJoin", "ConfbridgeLeave",
         "Hangup", "AGIExecStart")


def play(scene: Scene, parties: list[sim.Party], *, dialstring: str | None = None,
         agent_hangup: float | None = None, outside: int | None = None,
         timeout: float = SETTLE_TIMEOUT_S) -> None:
    """The agent's call to `parties`, awaited to the end of the batch: its agent leg and
    `outside` outside legs (default: one per party) hung up or in a conference.
    `agent_hangup`: the agent hangs up this many seconds after starting the call."""
    schedules = [schedule_of(p) for p in parties]
    with Cues(scene.rec, parties, "Local/" + DIAL_PREFIX):
        started = time.monotonic()
        scene.call(*schedules, dialstring=dialstring)
        if agent_hangup is not None:
            time.sleep(max(0.0, started + agent_hangup - time.monotonic()))  # the scenario's
            scene.hang_up_agent()                                            # moment
        scene.wait_settled(len(parties) if outside is None else outside, timeout)


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
    for party in parties:
        schedule_of(party)                  # what cannot be played is refused before starting
    with running_scene(block, server, engine) as scene:
        scene.begin()
        play(scene, parties, timeout=timeouts.agent + timeouts.dial + 30)
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
