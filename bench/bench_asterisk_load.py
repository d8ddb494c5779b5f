#!/usr/bin/env python3
"""Many agents at once on the real Asterisk 22 (the cached chrooted root; run as root), with
a process per AGI step (`per-call`) and through one `press3way fastagi` server (`fastagi`).

burst  50 batches x 5 outside calls, every 3-way call originated in the same instant
       (target in FastAGI mode: press-to-bridge p95 <= 1 s)
ramp   batches of 5 numbers started at a rising rate (each rate held for --ramp-seconds, at
       least 10 batches, at most --batches agents) until press-to-bridge p95 passes 0.25 s
       or a batch is decided wrongly: the highest rate held
Each batch: two parties press 1 and one presses 5 as their prompts end, two never press;
decided correctly = exactly one Transfer, every call ended once, no live row left (see
testing/press3way_testing/asterisk/load.py). Figures only, nothing asserted.
Usage: bench/bench_asterisk_load.py [--batches 50] [--calls 5] [--mode per-call|fastagi|both]
       [--no-ramp] [--ramp-seconds 5] [--keep-logs DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import sys

from press3way_testing.asterisk import load
from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts
from press3way_testing.asterisk.modes import FASTAGI, MODES, PER_CALL, fastagi_server
from press3way_testing.asterisk.root import RootUnavailable
from press3way_testing.asterisk.scene import Scene
from press3way_testing.asterisk.session import running_scene
from press3way_testing.mariadb import MariaDBMissing

BLOCK = pathlib.Path(__file__).resolve().parents[1] / "extensions_custom.conf"
# generous flags: under load nothing should end by a timeout that a quiet machine would meet
TIMEOUTS = Timeouts(agent=60, dial=30, press=20, accept=20)
P95_LIMIT_S = 0.25
RAMP_RATES = (0.5, 1, 2, 4, 8, 16, 32)          # batches started per second
MAX_CALLS = 1000                                  # the FastAGI server's cap: 50 x 6 AGI at once


def describe(mode: str, what: str, result: load.Round, batches: int) -> str:
    wrong = result.wrong
    refused = len(result.refused)
    line = (f"  {mode:<8} {what}: {len(result.outcomes) - len(wrong) - refused}/{batches} "
            f"decided correctly, {refused} refused at their start (server overloaded), "
            f"{len(wrong)} wrong in {result.took:.1f} s; press-to-bridge "
            f"{load.summary(result.press_to_bridge)}; answer-to-prompt "
            f"{load.summary(result.answer_to_prompt)}; load average {os.getloadavg()[0]:.2f}")
    if wrong:
        line += f"\n           first wrong: {wrong[0].batch.numbers[0]}: {wrong[0].why}"
    if result.unfinished:
        line += f"\n           not over in time: {result.unfinished}"
    if result.press_failures:
        line += f"\n           presses refused: {result.press_failures[:3]}"
    return line


def burst(scene: Scene, mode: str, count: int, calls: int, keep_logs: str = "") -> None:
    result = load.play(scene, load.batches(scene.site, count, calls))
    print(describe(mode, f"burst {count} x {calls}", result, count), flush=True)
    if keep_logs:
        keep(scene, mode, result, pathlib.Path(keep_logs))


def keep(scene: Scene, mode: str, result: load.Round, where: pathlib.Path) -> None:
    """The burst's AGI log, its log rows and the wrong batches, for reading afterwards
    (bench/burst_waits.py tells from them which wait ended each batch)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{mode}-agi.log").write_text(scene.agi_log() + "".join(
        line + "\n" for line in scene.fastagi_log()), encoding="utf-8")
    (where / f"{mode}-rows.txt").write_text("".join(
        f"{r['caller_code']}|{r['call_3way_id']}|{r['phone_number']}|{r['result']}\n"
        for r in scene.log_rows()), encoding="utf-8")
    (where / f"{mode}-wrong.txt").write_text("".join(
        f"{o.batch.numbers[0]}: {o.why}\n" for o in result.wrong), encoding="utf-8")


def ramp(scene: Scene, mode: str, agents: int, calls: int, seconds: float) -> None:
    held = 0.0
    for rate in RAMP_RATES:
        count = min(agents, max(10, round(rate * seconds)))
        result = load.play(scene, load.batches(scene.site, count, calls), stagger=1 / rate)
        print(describe(mode, f"{rate:g} batches/s ({count})", result, count), flush=True)
        figures = result.press_to_bridge
        if result.wrong or result.unfinished or not figures or \
                load.p95(figures) > P95_LIMIT_S:
            break
        held = rate
    print(f"  {mode:<8} highest rate held: {held:g} batches/s ({held * calls:g} outside "
          f"calls/s) with press-to-bridge p95 <= {P95_LIMIT_S} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("--no-ramp", action="store_true", help="the burst only")
    parser.add_argument("--ramp-seconds", type=float, default=5.0)
    parser.add_argument("--keep-logs", default="", metavar="DIR",
                        help="write each burst's AGI log and log rows into DIR")
    args = parser.parse_args()
    modes = MODES if args.mode == "both" else (args.mode,)
    block = block_with_timeouts(BLOCK.read_text(), TIMEOUTS)
    try:
        with running_scene(block) as scene, contextlib.ExitStack() as stack:
            servers = {PER_CALL: None}
            if FASTAGI in modes:
                servers[FASTAGI] = stack.enter_context(
                    fastagi_server(scene.instance, scene.site, max_calls=MAX_CALLS))
            load.arrange(scene, load.batches(scene.site, args.batches, args.calls))
            stages = [("burst", lambda mode: burst(scene, mode, args.batches, args.calls,
                                                     args.keep_logs))]
            if not args.no_ramp:
                stages.append(("ramp", lambda mode: ramp(scene, mode, args.batches,
                                                         args.calls, args.ramp_seconds)))
            for name, stage in stages:
                print(f"{name} on the real Asterisk 22 ({os.cpu_count()} cores):", flush=True)
                for mode in modes:
                    scene.fastagi = servers[mode]
                    scene.load_block(block)
                    stage(mode)
    except (RootUnavailable, MariaDBMissing) as exc:
        print(f"bench_asterisk_load: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
