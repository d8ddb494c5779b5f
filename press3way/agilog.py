"""The AGI log, as VICIdial writes it: per `servers.agi_output` to stderr and/or
PATHlogs/agiout.YYYY-MM-DD. Until the servers row is read we log to both, so an unreachable
database still leaves a line saying why."""

from __future__ import annotations

import os
import sys
import time


class AgiLog:
    def __init__(self, script: str, logs_dir: str | None = None):
        self.script = script
        self.logs_dir = logs_dir
        self.channel = ""
        self.to_file = True
        self.to_stderr = True

    def follow(self, agi_output: str, logs_dir: str) -> None:
        """Apply servers.agi_output: NONE, STDERR, FILE or BOTH."""
        mode = (agi_output or "NONE").upper()
        self.to_file = mode in ("FILE", "BOTH")
        self.to_stderr = mode in ("STDERR", "BOTH")
        self.logs_dir = logs_dir

    def __call__(self, message: str, *, error: bool = False) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        line = (f"{stamp}|{self.script}|{self.channel}|{'ERROR: ' if error else ''}"
                f"{message}\n")
        if self.to_stderr or error:
            try:
                sys.stderr.write(line)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        if self.to_file and self.logs_dir:
            try:
                path = os.path.join(self.logs_dir, f"agiout.{time.strftime('%Y-%m-%d')}")
                with open(path, "a", encoding="utf-8", errors="replace") as f:
                    f.write(line)
            except OSError:
                pass

    def error(self, message: str) -> None:
        self(message, error=True)
