#!/usr/bin/env python3
"""Per-call processes against the FastAGI server, through the simulator, on this machine.

A burst: 50 batches x 5 calls started in the same instant, once with every AGI step a process
of its own and once through `press3way fastagi`; prints press-to-bridge (median, p95) and
answer-to-prompt (median: from the outside party answering to its first prompt, i.e. the
`answered` AGI step). With --ramp, batches of 5 numbers at a rising rate until press-to-bridge
p95 passes 0.25 s: the highest rate held. Figures only, nothing asserted.
Usage: bench/bench_fastagi.py [--batches 50] [--calls 5] [--modes process,fastagi] [--ramp]
       [--ramp-seconds 5] [--show-wrong]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from typing import Iterator

from bench_load import batch, press_to_bridge

from press3way import events as ev
from press3way_testing.demo import scratch_site
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.load import run_batches
from press3way_testing.sim import SimResult, Timeouts
from press3way_testing.site import Site

TIMEOUTS = Timeouts(agent=120, dial=60, press=30, accept=60)
P95_LIMIT_S = 0.25
RAMP_RATES = (0.5, 1, 2, 4, 8, 16, 32, 64)     # batches started per second


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def answer_to_prompt(result: SimResult) -> list[float]:
    """Per outside party: from answering to the dialplan's Background (the prompts)."""
    answered, prompted = {}, {}
    for t, who, text in sorted(result.timeline, key=lambda e: e[0]):
        if text == "answered":
            answered.setdefault(who, t)
        elif text.startswith("xfer_press_dialplan,s,") and " Background(" in text:
            prompted.setdefault(who, t)
    return [prompted[who] - t for who, t in answered.items() if who in prompted]


@contextlib.contextmanager
def agi_mode(mode: str, conf: str, max_calls: int) -> Iterator[FastAGIServer | None]:
    if mode == "process":
        yield None
        return
    with FastAGIServer(conf, max_calls=max_calls) as server:
        yield server


def play(site: Site, conf: str, mode: str, batches: int, calls: int, stagger: float,
         max_calls: int, show_wrong: bool) -> tuple[list[float], list[float], int, float]:
    """(press-to-bridge figures, answer-to-prompt figures, wrong batches, seconds taken)."""
    with agi_mode(mode, conf, max_calls) as server:
        started = time.monotonic()
        results = run_batches(site, conf, [batch(calls)] * batches, timeouts=TIMEOUTS,
                              stagger=stagger, fastagi=server)
        took = time.monotonic() - started
    bridges, prompts, wrong = [], [], 0
    for result in results:
        ends = [ev.terminal_event(r["result"]) for r in result.log_rows]
        if len(ends) != calls or ends.count(ev.TRANSFER) != 1 or None in ends or result.live_rows:
            if show_wrong and not wrong:
                print(f"first wrong batch ({mode}):\n{result.format()}", file=sys.stderr)
            wrong += 1
            continue
        figure = press_to_bridge(result)
        if figure is not None:
            bridges.append(figure)
        prompts += answer_to_prompt(result)
    return bridges, prompts, wrong + batches - len(results), took


def burst(site: Site, conf: str, modes: list[str], batches: int, calls: int,
          max_calls: int, show_wrong: bool) -> None:
    print(f"burst: {batches} batches x {calls} calls started in the same instant")
    for mode in modes:
        bridges, prompts, wrong, took = play(site, conf, mode, batches, calls, 0.0, max_calls,
                                             show_wrong)
        line = f"  {mode:<8} {took:6.1f} s, {wrong} batches wrong"
        if bridges:
            line += (f"; press-to-bridge median {statistics.median(bridges):.3f} s, "
                     f"p95 {p95(bridges):.3f} s (n={len(bridges)})")
        if prompts:
            line += f"; answer-to-prompt median {statistics.median(prompts):.3f} s"
        print(line, flush=True)


def ramp(site: Site, conf: str, modes: list[str], seconds: float, calls: int,
         max_calls: int, show_wrong: bool) -> None:
    print(f"ramp: batches of {calls} numbers for {seconds:g} s (at least 10) at each rate, "
          f"until press-to-bridge p95 passes {P95_LIMIT_S} s")
    for mode in modes:
        held = 0.0
        for rate in RAMP_RATES:
            batches = max(10, round(rate * seconds))
            bridges, _, wrong, _ = play(site, conf, mode, batches, calls, 1 / rate, max_calls,
                                        show_wrong)
            figure = p95(bridges) if bridges else float("inf")
            print(f"  {mode:<8} {rate:4g} batches/s ({batches} batches): p95 {figure:.3f} s, "
                  f"{wrong} wrong", flush=True)
            if figure > P95_LIMIT_S or wrong:
                break
            held = rate
        print(f"  {mode:<8} highest rate held: {held:g} batches/s "
              f"({held * calls:g} outside calls/s)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--modes", default="process,fastagi")
    parser.add_argument("--max-calls", type=int, default=1000,
                        help="the FastAGI server's cap (a burst of 50 x 5 runs 300 AGI at once)")
    parser.add_argument("--ramp", action="store_true", help="also run the rising-rate load")
    parser.add_argument("--ramp-seconds", type=float, default=5.0,
                        help="how long each rate of the ramp is held")
    parser.add_argument("--show-wrong", action="store_true",
                        help="print the first wrongly decided batch of each run (stderr)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= {"process", "fastagi"}:
        parser.error("--modes: process and/or fastagi")
    with scratch_site() as (site, conf):
        burst(site, conf, modes, args.batches, args.calls, args.max_calls, args.show_wrong)
        if args.ramp:
            ramp(site, conf, modes, args.ramp_seconds, args.calls, args.max_calls,
                 args.show_wrong)
    return 0


if __name__ == "__main__":
    sys.exit(main())
