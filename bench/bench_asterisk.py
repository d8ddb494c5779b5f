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
  CPU per process    (per-call) user + system time of every AGI process of the calls, as each
                     logs it last (interpreter start included), agent and outside legs alike
each with a process per AGI step (`per-call`), through one `press3way fastagi` server
(`fastagi`), or both (the default: the modes take turns run by run, so a change in the
machine's load falls on both alike).
Usage: bench/bench_asterisk.py [--runs N] [--mode per-call|fastagi|both]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import re
import sys
import time

from bench_calls import print_the_rest, summary

from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts
from press3way_testing.asterisk.modes import FASTAGI, MODES, PER_CALL, fastagi_server
from press3way_testing.asterisk.parties import Party
from press3way_testing.asterisk.root import RootUnavailable
from press3way_testing.asterisk.scene import Scene
from press3way_testing.asterisk.session import running_scene
from press3way_testing.mariadb import MariaDBMissing

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
    figures: dict[str, list[float]] = {key: [] for key in CPU_FIGURES}
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


CPU_FIGURES = ("CPU per process", "CPU (agent leg)", "CPU (outside leg)")
FIGURES = ("press-to-bridge (waiting)", "press-to-bridge (hold tone)", "failure-to-buzz",
           "answer-to-prompt", "AGI start-up") + CPU_FIGURES
FASTAGI_TARGETS = {"answer-to-prompt": "median <= 0.02 s (FastAGI)"}


def one_run(scene: Scene, n: int, figures: dict[str, list[float]]) -> None:
    """Two accepted calls (a press while waiting, a press during the hold tone), one failure."""
    for during_hold_tone in (False, True):
        scene.begin()
        for key, values in accept_call(scene, during_hold_tone).items():
            figures[key] += values
        add_cpu(scene, figures)
        scene.end()
    scene.begin()
    figures["failure-to-buzz"].append(failed_call(scene, FAILURES[n % 3]))
    add_cpu(scene, figures)
    scene.end()


def add_cpu(scene: Scene, figures: dict[str, list[float]]) -> None:
    if scene.fastagi is None:       # FastAGI: no process per step (the server logs durations)
        for key, values in cpu_per_process(scene).items():
            figures[key] += values


def report(mode: str, figures: dict[str, list[float]]) -> None:
    print(f"[{mode}] on the real Asterisk 22, load average {os.getloadavg()[0]:.2f}")
    both = figures["press-to-bridge (waiting)"] + figures["press-to-bridge (hold tone)"]
    print(summary("press-to-bridge", both, "median <= 0.25 s"))
    for key in ("press-to-bridge (waiting)", "press-to-bridge (hold tone)"):
        print("  " + summary(key.split(" ", 1)[1], figures[key], ""))
    print_the_rest(figures, FASTAGI_TARGETS if mode == FASTAGI else {})
    if mode == PER_CALL:
        print(summary("CPU per process", figures["CPU per process"], "median <= 0.03 s"))
        for key in CPU_FIGURES[1:]:
            print("  " + summary(key.split(" ", 1)[1], figures[key], ""))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    args = parser.parse_args()
    modes = MODES if args.mode == "both" else (args.mode,)
    figures = {mode: {key: [] for key in FIGURES} for mode in modes}
    block = block_with_timeouts(BLOCK.read_text(), TIMEOUTS)
    try:
        with running_scene(block) as scene, contextlib.ExitStack() as stack:
            servers = {PER_CALL: None}
            if FASTAGI in modes:
                servers[FASTAGI] = stack.enter_context(fastagi_server(scene.instance,
                                                                      scene.site))
            for n in range(args.runs):
                for mode in modes:
                    scene.fastagi = servers[mode]
                    scene.load_block(block)
                    one_run(scene, n, figures[mode])
                print(f"run {n + 1}/{args.runs}", file=sys.stderr)
    except (RootUnavailable, MariaDBMissing) as exc:
        print(f"bench_asterisk: {exc}", file=sys.stderr)
        return 1
    for mode in modes:
        report(mode, figures[mode])
    return 0


if __name__ == "__main__":
    sys.exit(main())
