#!/usr/bin/env python3
"""Timing of whole 3-way calls on the real Asterisk 22 (the cached chrooted root; run as root).

Median and p95 of:
  press-to-bridge    the outside leg receives the digit (DTMFEnd) -> the later of the two
                     ConfbridgeJoin events of the 3-way conference; half the presses come while
                     the agent leg plays its hold tone (also shown on their own)
  failure-to-buzz    the last outside call fails (party hangs up / wrong key / busy) -> the
                     agent leg's AGI starts `STREAM FILE buzz`
  answer-to-prompt   the party answers -> the outside leg starts Background(outside-sales...)
  AGI start-up       an outside leg enters AGI() -> the script's first AGI command (the agent
                     leg sends none until its first hold tone, so it is left out)
  CPU per process    user + system time of every AGI process of the calls, as each logs it
                     last (interpreter start included), agent and outside legs alike
Usage: bench/bench_asterisk.py [--runs N]
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
import time

from bench_calls import print_the_rest, summary

from press3way.testing.asterisk.dialplan import Timeouts, block_with_timeouts
from press3way.testing.asterisk.parties import Party
from press3way.testing.asterisk.root import RootUnavailable
from press3way.testing.asterisk.scene import Scene
from press3way.testing.asterisk.session import running_scene
from press3way.testing.mariadb import MariaDBMissing

BLOCK = pathlib.Path(__file__).resolve().parents[1] / "extensions_custom.conf"
TIMEOUTS = Timeouts(agent=30, dial=10, press=10, accept=10)
NUMBER = "7275551212"
CONF = "8600061"
FAILURES = (Party(NUMBER, hangup_at=0.5), Party(NUMBER, press_at=0.5, digits="2"),
            Party(NUMBER, mode="busy"))


_CPU = re.compile(r"^[^|]*\|agi-3way_press_(\w+)\.agi\|.*\|status -?\d+, ([\d.]+) s of CPU "
                  r"since the process started$", re.M)


def cpu_per_process(scene: Scene, timeout: float = 10.0) -> dict[str, list[float]]:
    """The CPU time each AGI process of this scene logged as it ended, all and by leg (a
    process goes on after Asterisk has moved its channel on: its log file is read until every
    AGI() run's line is there; no event says so)."""
    runs = len(scene.events("Newexten", Application="AGI"))
    deadline = time.monotonic() + timeout
    while len(found := _CPU.findall(scene.agi_log())) < runs and time.monotonic() < deadline:
        time.sleep(0.02)
    figures: dict[str, list[float]] = {"CPU per process": [], "CPU (agent leg)": [],
                                       "CPU (outside leg)": []}
    for leg, seconds in found:
        figures["CPU per process"].append(float(seconds))
        figures[f"CPU ({leg} leg)"].append(float(seconds))
    return figures


def agi_startups(scene: Scene) -> list[float]:
    """For every AGI() run of an outside leg: the time to the script's first command."""
    found = []
    for start in scene.events("Newexten", Application="AGI", Channel="Local/9*"):
        first = [e for e in scene.events("AGIExecStart", Channel=start["Channel"])
                 if e.at >= start.at]
        if first:
            found.append(first[0].at - start.at)
    return found


def accept_call(scene: Scene, during_hold_tone: bool) -> dict[str, list[float]]:
    scene.call(Party(NUMBER))
    outside = scene.wait_channels("Local/9", 2)[0]
    if during_hold_tone:
        scene.wait_agi(scene.agent_leg(), "STREAM FILE hold_tone*")
    else:
        scene.wait_app(outside, "WaitExten")
    scene.press(NUMBER)
    joins = scene.rec.wait_event("ConfbridgeJoin", 20, since=scene.since, count=2,
                                 Conference=CONF)
    pressed = scene.events("DTMFEnd", Channel=outside)[0].at
    answered = scene.events("Newexten", Channel=scene.party_channel(NUMBER),
                            Application="Answer")[0].at
    prompt = scene.events("Newexten", Channel=outside, Application="BackGround")[0].at
    key = "press-to-bridge (hold tone)" if during_hold_tone else "press-to-bridge (waiting)"
    return {key: [max(j.at for j in joins) - pressed], "answer-to-prompt": [prompt - answered],
            "AGI start-up": agi_startups(scene)}


def failed_call(scene: Scene, party: Party) -> float:
    scene.call(party)
    agent_leg = scene.wait_channels("Local/49949907", 2)[-1]
    buzz = scene.wait_agi(agent_leg, "STREAM FILE buzz*", timeout=30).at
    if party.mode == "busy":
        failed = scene.events("OriginateResponse", Response="Failure")[0].at
    elif party.press_at is not None:
        failed = scene.events("DTMFEnd", Channel=scene.outside_leg(NUMBER))[0].at
    else:
        failed = scene.events("Hangup", Channel=scene.party_channel(NUMBER))[0].at
    return buzz - failed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    figures: dict[str, list[float]] = {"press-to-bridge (waiting)": [],
                                       "press-to-bridge (hold tone)": [],
                                       "failure-to-buzz": [], "answer-to-prompt": [],
                                       "AGI start-up": [], "CPU per process": [],
                                       "CPU (agent leg)": [], "CPU (outside leg)": []}
    try:
        with running_scene(block_with_timeouts(BLOCK.read_text(), TIMEOUTS)) as scene:
            for n in range(runs):
                for during_hold_tone in (False, True):
                    scene.begin()
                    for key, values in accept_call(scene, during_hold_tone).items():
                        figures[key] += values
                    for key, values in cpu_per_process(scene).items():
                        figures[key] += values
                    scene.end()
                scene.begin()
                figures["failure-to-buzz"].append(failed_call(scene, FAILURES[n % 3]))
                for key, values in cpu_per_process(scene).items():
                    figures[key] += values
                scene.end()
                print(f"run {n + 1}/{runs}", file=sys.stderr)
    except (RootUnavailable, MariaDBMissing) as exc:
        print(f"bench_asterisk: {exc}", file=sys.stderr)
        return 1
    both = figures["press-to-bridge (waiting)"] + figures["press-to-bridge (hold tone)"]
    print(summary("press-to-bridge", both, "median <= 0.25 s"))
    for key in ("press-to-bridge (waiting)", "press-to-bridge (hold tone)"):
        print("  " + summary(key.split(" ", 1)[1], figures[key], ""))
    print_the_rest(figures)
    print(summary("CPU per process", figures["CPU per process"], "median <= 0.03 s"))
    for key in ("CPU (agent leg)", "CPU (outside leg)"):
        print("  " + summary(key.split(" ", 1)[1], figures[key], ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
