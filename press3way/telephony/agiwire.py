"""pyst2 under our rules: quiet, and one hang-up signal whatever form the hang-up takes.

Asterisk tells a script its channel is gone in four ways: SIGHUP, a `HANGUP` line on stdin,
a `511` reply to the next command, or EOF. All of them raise `Hangup` here. pyst2 writes every
environment line and command to stderr (Asterisk's console) and turns 511 into a generic
error; we give it a null stderr and read replies ourselves. Loaded with a call's first command
after the prefetched one (see `agi.Channel`), so the interpreter's start stays short.
"""

from __future__ import annotations

import io
import re

from asterisk import agi as pyst

from . import hangup
from .agi import AgiError
from .hangup import Hangup

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only
    from typing import IO

_REPLY = re.compile(r"^(\d{3})[ -]?(.*)$")
_RESULT = re.compile(r"result=(-?\d+)(?:\s+\((.*)\))?")


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


class Wire(pyst.AGI):
    """pyst2's AGI with our reply reader: HANGUP lines, 511 and EOF become `Hangup`, other
    refusals `AgiError`; the environment is the one `Channel` already read."""

    def __init__(self, stdin: IO[str], stdout: IO[str], env: dict[str, str]):
        # not super().__init__: pyst2's own installs a SIGHUP handler (refused outside the
        # main thread, and `hangup.install` owns that signal) and reads the environment
        self.stdin, self.stdout, self.stderr = stdin, stdout, _Null()
        self._got_sighup = False
        self.env = env

    def command(self, command: str, *args: object) -> tuple[str, str]:
        """Send a command and read its reply: (result, the text in parentheses)."""
        try:
            return self.execute(command, *args)["result"]
        except pyst.AGISIGPIPEHangup as exc:
            raise Hangup("broken pipe to Asterisk") from exc
        except pyst.AGIHangup as exc:
            raise Hangup(str(exc)) from exc
        except pyst.AGIInvalidCommand as exc:
            raise AgiError(f"510 {exc}") from exc
        except OSError as exc:                        # a FastAGI connection reset
            raise Hangup(f"connection to Asterisk lost: {exc}") from exc

    def send(self, command: str, *args: object) -> None:
        """Send a command whose reply `reply` takes later (a sound that plays meanwhile)."""
        try:
            self.send_command(command, *args)
        except OSError as exc:
            raise Hangup("broken pipe to Asterisk") from exc

    def reply(self) -> tuple[str, str]:
        return self.get_result()["result"]

    def get_result(self, stdin=None) -> dict:
        try:
            with hangup.interruptible():
                return self._read_result()
        except OSError as exc:                        # a FastAGI connection reset
            raise Hangup(f"connection to Asterisk lost: {exc}") from exc

    def _read_result(self) -> dict:
        line = self.stdin.readline()
        if not line:
            raise Hangup("EOF on the AGI channel")
        line = line.strip()
        while line == "HANGUP":                       # asynchronous notice (AGISIGHUP=no)
            hangup.note()
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
