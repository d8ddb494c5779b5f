#!/usr/bin/env python3
"""Start-up of one AGI process, as `press3way install` installs the scripts, on this machine.

Each run starts the installed outside script (`#!python -S`, its paths written in, bytecode
compiled) for its `answered` stage against a live row on a throwaway MariaDB, playing
Asterisk's side of AGI itself, and prints median and p95 of:
  first command   process started -> its first AGI command read (wall)
  whole run       process started -> process ended (wall; what Asterisk waits before the
                  prompts, minus its own fork)
  CPU             user + system of the process (os.wait4), the interpreter's start included
The real Asterisk's figures come from bench_asterisk.py; this one isolates the process.
Usage: bench/bench_startup.py [--runs N] [--stage answered|declined|hungup]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from bench_calls import summary

from press3way.admin.scripts import compile_package, script_copy
from press3way.store import Call, Store
from press3way_testing.demo import scratch_site
from press3way_testing.mariadb import MariaDBMissing

SCRIPT = "agi-3way_press_outside.agi"


def one_run(script: str, conf: str, stage: str, call_id: str) -> tuple[float, float, float]:
    env = {"PATH": "/usr/bin:/bin", "PRESS3WAY_CONF": conf}
    started = time.perf_counter()
    proc = subprocess.Popen([script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    proc.stdin.write(f"agi_channel: Local/97275551212@default-0001;1\nagi_arg_1: {stage}\n"
                     "agi_calleridname: \n\n".encode())
    proc.stdin.flush()
    first = None
    for line in proc.stdout:
        if first is None:
            first = time.perf_counter() - started
        reply = f"200 result=1 ({call_id})" if line.startswith(b"GET VARIABLE") \
            else "200 result=0"
        proc.stdin.write(reply.encode() + b"\n")
        proc.stdin.flush()
    _, status, usage = os.wait4(proc.pid, 0)
    whole = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {stage} exited {proc.returncode}")
    return first or whole, whole, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--stage", default="answered")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"first command": [], "whole run": [], "CPU": []}
    try:
        with scratch_site() as (site, conf), tempfile.TemporaryDirectory() as agi_dir:
            compile_package(lambda line: None)
            script = os.path.join(agi_dir, SCRIPT)
            with open(script, "wb") as f:
                f.write(script_copy(SCRIPT))
            os.chmod(script, 0o755)
            site.reset()
            store = Store(site.connect())
            for n in range(args.runs + 1):
                call_id = f"T{n:019d}"
                store.start_call(Call(site.caller_code, call_id, site.lead_id, "7275551212",
                                      "97275551212", "7275551212", site.user, site.session,
                                      site.server_ip))
                times = one_run(script, conf, args.stage, call_id)
                if n:               # the first run warms the disk cache
                    for key, value in zip(figures, times):
                        figures[key].append(value)
    except MariaDBMissing as exc:
        print(f"bench_startup: {exc}", file=sys.stderr)
        return 1
    print(f"outside leg, stage {args.stage}, {args.runs} runs ({sys.version.split()[0]}):")
    for key, values in figures.items():
        print("  " + summary(key, values, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
