"""The AGI log, as VICIdial writes it: per `servers.agi_output` to stderr and/or
PATHlogs/agiout.YYYY-MM-DD. Until the servers row is read we log to both, so an unreachable
database still leaves a line saying why.

Each record is one line: text from calls in it is spelled out (`printable`). The day's file
holds caller codes and phone numbers: a new one is made readable by its owner and Asterisk's
group only."""

from __future__ import annotations

import os
import sys
import time

from .printable import printable

LOG_MODE = 0o640
LOG_GROUP = "asterisk"        # the group of a new log, when the system has it
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


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
        line = printable(f"{stamp}|{self.script}|{self.channel}|{'ERROR: ' if error else ''}"
                         f"{message}") + "\n"
        if self.to_stderr or error:
            try:
                sys.stderr.write(line)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        if self.to_file and self.logs_dir:
            try:
                fd = open_log(os.path.join(self.logs_dir, f"agiout.{time.strftime('%Y-%m-%d')}"))
                try:
                    os.write(fd, line.encode("utf-8"))
                finally:
                    os.close(fd)
            except OSError:
                pass

    def error(self, message: str) -> None:
        self(message, error=True)


def open_log(path: str) -> int:
    """The day's log, to append to (never through a symlink); a new one made 0640 with
    Asterisk's group through its descriptor, whatever the umask."""
    try:
        return os.open(path, _APPEND)
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, _APPEND | os.O_CREAT | os.O_EXCL, LOG_MODE)
    except FileExistsError:           # another call made it meanwhile
        return os.open(path, _APPEND)
    os.fchmod(fd, LOG_MODE)
    gid = _log_group()
    if gid is not None:
        try:
            os.fchown(fd, -1, gid)
        except OSError:               # neither root nor in that group: the process's stays
            pass
    return fd


def _log_group() -> int | None:
    import grp  # only when a day's file is made

    try:
        return grp.getgrnam(LOG_GROUP).gr_gid
    except KeyError:
        return None
