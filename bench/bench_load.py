#!/usr/bin/env python3
"""50 concurrent batches of 5 outside calls each, on one MariaDB, on this machine.

Every batch must be decided correctly (exactly one Transfer, every other call ended once, no
live rows); prints press-to-bridge median and p95 under that load.
Usage: bench/bench_load.py [--batches 50] [--calls 5] [--stagger 0.2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from press3way import events as ev
from press3way_testing.demo import scratch_site
from press3way_testing.load import run_batches
from press3way_testing.sim import SimResult, Timeouts


def batch(calls: int) -> list[str]:
    """Two press 1 together, one presses a wrong key, the rest never press."""
    parties = []
    for n in range(calls):
        spec = {0: "press=1@prompt+0.1", 1: "press=1@prompt+0.1", 2: "press=5@prompt+0.05"}
        parties.append(f"72755512{10 + n:02d}:answer={0.2 + 0.1 * n:.1f}"
                       + (f",{spec[n]}" if n in spec else ""))
    return parties


def press_to_bridge(result: SimResult) -> float | None:
    """From the winner's press to the later of the two legs joining the conference."""
    winner = next(r["phone_number"] for r in result.log_rows if r["call_transfer"] == "Y")
    pressed = [t for t, who, text in result.timeline if who == winner and text == "pressed 1"]
    joined = [t for t, who, text in result.timeline
              if who in ("agent", winner) and "joined conference" in text]
    return max(joined) - min(pressed) if pressed and len(joined) == 2 else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="start batch n this many seconds times n after the first")
    args = parser.parse_args()
    with scratch_site() as (site, conf):
        started = time.monotonic()
        results = run_batches(site, conf, [batch(args.calls)] * args.batches,
                              timeouts=Timeouts(agent=120, dial=60, press=30, accept=60),
                              stagger=args.stagger)
        took = time.monotonic() - started
    wrong, figures = [], []
    for n, result in enumerate(results):
        ends = [ev.terminal_event(r["result"]) for r in result.log_rows]
        if len(ends) != args.calls or ends.count(ev.TRANSFER) != 1 or None in ends \
                or result.live_rows:
            wrong.append((n, ends, result.live_rows))
        elif press_to_bridge(result) is not None:
            figures.append(press_to_bridge(result))
    figures.sort()
    p95 = figures[min(len(figures) - 1, round(0.95 * (len(figures) - 1)))] if figures else 0
    print(f"{len(results)} concurrent batches x {args.calls} calls (started {args.stagger} s "
          f"apart) in {took:.1f} s: "
          f"{len(results) - len(wrong)} decided correctly, {len(wrong)} wrong {wrong[:3]}")
    if figures:
        print(f"press-to-bridge under load: median {statistics.median(figures):.3f} s, "
              f"p95 {p95:.3f} s (n={len(figures)})")
    for n, _, _ in wrong[:1]:
        print("first wrong batch:")
        print(results[n].format())
    return 0 if not wrong and len(results) == args.batches else 1


if __name__ == "__main__":
    sys.exit(main())
