"""Our one AGI layer, on pyst2: quiet, and one hang-up signal whatever form the hang-up takes.

Asterisk tells a script its channel is gone in four ways: SIGHUP, a `HANGUP` line on stdin,
a `511` reply to the next command, or EOF. All of them raise `Hangup` here. pyst2 writes every
environment line and command to stderr (Asterisk's console) and turns 511 into a generic
error; we give it a null stderr and read replies ourselves.
"""

from __future__ import annotations

import io
import os
import re
import select
import sys
from typing import IO, Callable

from asterisk import agi as pyst

_REPLY = re.compile(r"^(\d{3})[ -]?(.*)$")
_RESULT = re.compile(r"result=(-?\d+)(?:\s+\((.*)\))?")


class Hangup(Exception):
    """The channel hung up (SIGHUP, HANGUP line, 511 reply or EOF)."""


class AgiError(Exception):
    """Asterisk refused a command or sent something that is not an AGI reply."""


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


class _QuietAGI(pyst.AGI):
    """pyst2's AGI with our reply reader: HANGUP lines, 511 and EOF become `Hangup`."""

    def get_result(self, stdin=None) -> dict:
        line = self.stdin.readline()
        if not line:
            raise Hangup("EOF on the AGI channel")
        line = line.strip()
        while line == "HANGUP":                       # asynchronous notice (AGISIGHUP=no)
            self._got_sighup = True
            line = self.stdin.readline().strip()
            if not line:
                raise Hangup("HANGUP line from Asterisk")
        match = _REPLY.match(line)
        if not match:
            raise AgiError(f"malformed AGI reply {line[:80]!r}")
        code, rest = int(match.group(1)), match.group(2)
        if code == 511:
            raise Hangup(f"511 {rest}")
        if code == 520:                               # usage text follows until a 520 line
            while True:
                more = self.stdin.readline()
                if not more or more.startswith("520"):
                    break
            raise AgiError(f"usage error: {rest}")
        if code != 200:
            raise AgiError(f"{code} {rest}")
        result = _RESULT.search(rest)
        if not result:
            raise AgiError(f"AGI reply without result: {line[:80]!r}")
        if result.group(2) == "hangup":
            raise Hangup(f"hangup ({rest})")
        return {"result": (result.group(1), result.group(2) or "")}


class Channel:
    """The AGI view of one Asterisk channel: its environment and the commands our flows use."""

    def __init__(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None):
        if stdin is None:  # undecodable bytes in caller id text must not kill the script
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        self._stdin = stdin
        self._agi = _QuietAGI(stdin=stdin, stdout=stdout or sys.stdout, stderr=_Null())
        self.env: dict[str, str] = self._agi.env
        self.warn: Callable[[str], None] = lambda message: None    # set to the AGI log

    # --- environment ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.env.get("agi_channel", "")

    @property
    def args(self) -> list[str]:
        found, n = [], 1
        while f"agi_arg_{n}" in self.env:
            found.append(self.env[f"agi_arg_{n}"])
            n += 1
        if not found and len(sys.argv) > 1:   # very old Asterisk passes them on the command line
            found = sys.argv[1:]
        return found

    def stage(self) -> tuple[str, list[int]]:
        """The first argument: `stage` or `stage---N[---M]` (VICIdial's flag syntax)."""
        return parse_stage(self.args[0] if self.args else "")

    # --- commands -------------------------------------------------------------------
    def check(self) -> None:
        """Raise `Hangup` if a SIGHUP or a HANGUP line arrived since the last command."""
        if self._agi._got_sighup:
            raise Hangup("SIGHUP from Asterisk")

    def _execute(self, command: str, *args: object) -> dict:
        self.check()
        try:
            return self._agi.execute(command, *args)
        except pyst.AGISIGPIPEHangup as exc:
            raise Hangup("broken pipe to Asterisk") from exc
        except pyst.AGIHangup as exc:
            raise Hangup(str(exc)) from exc
        except pyst.AGIInvalidCommand as exc:
            raise AgiError(f"510 {exc}") from exc

    def get_variable(self, name: str) -> str:
        reply = self._execute("GET VARIABLE", name)
        return reply["result"][1] if reply["result"][0] == "1" else ""

    def stream_file(self, sound: str, escape_digits: str = "") -> str:
        """Play a sound; the digit that interrupted it, or ''.

        result=-1 means a hang-up or a sound that could not be played: CHANNEL STATUS (refused
        with 511 on a dead channel) tells which, so a missing file never ends a call.
        """
        reply = self._execute("STREAM FILE", sound, f'"{escape_digits}"', 0)
        code = int(reply["result"][0])
        if code < 0:
            self._execute("CHANNEL STATUS")
            self.warn(f"could not play sound {sound!r}")
            return ""
        return chr(code) if code > 0 else ""

    def goto(self, context: str, extension: str, priority: int = 1) -> None:
        """Where the channel continues in the dialplan when this script exits."""
        self._execute("SET CONTEXT", context)
        self._execute("SET EXTENSION", extension)
        self._execute("SET PRIORITY", priority)

    def goto_invalid(self) -> None:
        """Extension `i` of the current context: buzz and hang up (our dialplan)."""
        self._execute("SET EXTENSION", "i")
        self._execute("SET PRIORITY", 1)

    def wait(self, seconds: float) -> None:
        """Sleep, but wake with `Hangup` as soon as Asterisk says the channel is gone."""
        self.check()
        try:
            fd = self._stdin.fileno()
        except (OSError, io.UnsupportedOperation):
            fd = None
        if fd is None:
            select.select([], [], [], seconds)
        elif select.select([fd], [], [], seconds)[0]:
            line = os.read(fd, 4096)
            raise Hangup("EOF on the AGI channel" if not line else "HANGUP line from Asterisk")
        self.check()


def parse_stage(argument: str) -> tuple[str, list[int]]:
    """`accepted---10` -> ('accepted', [10]); a non-numeric timeout is an error."""
    stage, *fields = argument.split("---")
    timeouts = []
    for field in fields:
        if not field.strip().isdigit():
            raise ValueError(f"timeout {field!r} in {argument!r} is not a number of seconds")
        timeouts.append(int(field))
    return stage.strip(), timeouts
