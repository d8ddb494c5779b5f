#!/usr/bin/env python3
"""Timing of whole 3-way calls on the VICIdial server (tier 4: VICIdial's own programs around the
real Asterisk 22, in the cached VICIdial-server root; run as root).

The agent's call is VICIdial's: queued by manager_send.php, sent by AST_manager_send.pl, carried
by the keepalive's dialplan over the IAX2 `ASTloop` trunk; the agent leg runs on IAX2/ASTloop-N.
Median and p95 of:
  press-to-bridge    the outside leg receives the digit (DTMFEnd) -> the later of the two
                     ConfbridgeJoin events of the 3-way room
  answer-to-prompt   the party answers -> the outside leg starts Background(outside-sales...)
  queue-to-agent-leg manager_send.php's row queued -> our agent script starts (VICIdial's
                     sender, the Local channel and the IAX2 loop; not ours, shown for scale)
with a process per AGI step (`per-call`) and through one `press3way fastagi` server (`fastagi`),
the modes run by turns in blocks (a switch is an install, a keepalive and a dialplan reload).
Usage: bench/bench_vicidial_server.py [--runs N] [--mode per-call|fastagi|both]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from bench_calls import summary

from press3way_testing.asterisk.instance_dialplan import Timeouts
from press3way_testing.asterisk.modes import FASTAGI, MODES, PER_CALL, fastagi_server
from press3way_testing.asterisk.parties import Party
from press3way_testing.asterisk.root import RootUnavailable
from press3way_testing.mariadb import MariaDBMissing, throwaway_server
from press3way_testing.vicidial_server import session
from press3way_testing.vicidial_server.database import VICIDIAL_SQL_MODE
from press3way_testing.vicidial_server.scene import VicidialScene

TIMEOUTS = Timeouts(agent=30, dial=10, press=10, accept=10)
NUMBER = "7275551212"
BLOCK_RUNS = 5                       # runs of one mode before the other's turn
FIGURES = ("press-to-bridge", "answer-to-prompt", "queue-to-agent-leg")


def accept_call(scene: VicidialScene) -> dict[str, float]:
    queued = time.monotonic()
    scene.call(Party(NUMBER))
    agent_leg = scene.wait_agent_leg()
    started = scene.events("Newexten", Channel=agent_leg, Application="AGI")[0].at
    outside = scene.wait_channels("Local/9", 2)[0]
    scene.wait_app(outside, "WaitExten")
    scene.press(NUMBER)
    joins = scene.rec.wait_event("ConfbridgeJoin", 20, since=scene.since, Channel=outside)
    room = joins[0]["Conference"]
    both = scene.rec.wait_event("ConfbridgeJoin", 20, since=scene.since, count=2,
                                Conference=room)
    pressed = scene.events("DTMFEnd", Channel=outside)[0].at
    answered = scene.events("Newexten", Context="press3way-party", Application="Answer")[0].at
    prompt = scene.events("Newexten", Channel=outside, Application="BackGround")[0].at
    return {"press-to-bridge": max(j.at for j in both) - pressed,
            "answer-to-prompt": prompt - answered, "queue-to-agent-leg": started - queued}


def run_block(server: session.VicidialServer, fastagi, runs: int,
              figures: dict[str, list[float]]) -> None:
    for _ in range(runs):
        scene = VicidialScene(server, fastagi).begin()
        for key, value in accept_call(scene).items():
            figures[key].append(value)
        scene.end()


def report(mode: str, figures: dict[str, list[float]]) -> None:
    print(f"[{mode}] on the VICIdial server (IAX2 loop, VICIdial's originate), "
          f"load average {os.getloadavg()[0]:.2f}")
    for key in FIGURES:
        print(summary(key, figures[key], ""))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    args = parser.parse_args()
    modes = MODES if args.mode == "both" else (args.mode,)
    figures = {mode: {key: [] for key in FIGURES} for mode in modes}
    reason = session.why_unavailable()
    if reason:
        print(f"bench_vicidial_server: {reason}", file=sys.stderr)
        return 1
    try:
        with throwaway_server(f"--sql-mode={VICIDIAL_SQL_MODE}") as mariadb, \
                session.running_server(mariadb, TIMEOUTS) as server, \
                contextlib.ExitStack() as stack:
            servers = {PER_CALL: None}
            if FASTAGI in modes:
                servers[FASTAGI] = stack.enter_context(
                    fastagi_server(server.instance, server.site))
            done = 0
            while done < args.runs:
                block = min(BLOCK_RUNS, args.runs - done)
                for mode in modes:
                    run_block(server, servers[mode], block, figures[mode])
                done += block
                print(f"run {done}/{args.runs}", file=sys.stderr)
    except (RootUnavailable, MariaDBMissing) as exc:
        print(f"bench_vicidial_server: {exc}", file=sys.stderr)
        return 1
    for mode in modes:
        report(mode, figures[mode])
    return 0


if __name__ == "__main__":
    sys.exit(main())
