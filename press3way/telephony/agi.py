"""Our one AGI layer, on pyst2: quiet, and one hang-up signal whatever form the hang-up takes.

Asterisk tells a script its channel is gone in four ways: SIGHUP, a `HANGUP` line on stdin,
a `511` reply to the next command, or EOF. All of them raise `Hangup` here. pyst2 writes every
environment line and command to stderr (Asterisk's console) and turns 511 into a generic
error; we give it a null stderr and read replies ourselves.

The same channel runs over a FastAGI socket (`Channel.over_socket`): there a hang-up is a
`HANGUP` line or EOF, never a signal.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import select
import socket
import sys
from typing import IO, Callable, Sequence

from asterisk import agi as pyst

from . import hangup
from .hangup import Hangup

_REPLY = re.compile(r"^(\d{3})[ -]?(.*)$")
_RESULT = re.compile(r"result=(-?\d+)(?:\s+\((.*)\))?")


class AgiError(Exception):
    """Asterisk refused a command or sent something that is not an AGI reply."""


class _Null(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


class _QuietAGI(pyst.AGI):
    """pyst2's AGI with our reply reader: HANGUP lines, 511 and EOF become `Hangup`."""

    def __init__(self, stdin: IO[str], stdout: IO[str]):     # not super().__init__:
        # pyst2's own __init__ installs a SIGHUP handler (refused outside the main thread,
        # and `hangup.install` owns that signal) and echoes the environment to stderr.
        self.stdin, self.stdout, self.stderr = stdin, stdout, _Null()
        self._got_sighup = False
        self.env: dict[str, str] = {}
        self._get_agi_env()

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


class Channel:
    """The AGI view of one Asterisk channel: its environment and the commands our flows use."""

    def __init__(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
                 sock: socket.socket | None = None):
        if sock is None:
            try:            # before the environment is read: a hang-up then is not lost
                hangup.install()
            except ValueError:  # not the main thread (an in-process test): no signals
                pass
        if stdin is None:  # undecodable bytes in caller id text must not kill the script
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        self._stdin = stdin
        self._socket = sock
        self._agi = _QuietAGI(stdin, stdout or sys.stdout)
        self.env: dict[str, str] = self._agi.env
        self.warn: Callable[[str], None] = lambda message: None    # set to the AGI log
        self._playing = ""                  # a sound started with `start_sound`, not yet done

    @classmethod
    def over_socket(cls, sock: socket.socket) -> Channel:
        """A FastAGI connection: Asterisk writes the same environment and replies there."""
        stdin = sock.makefile("r", encoding="utf-8", errors="replace", newline="\n")
        stdout = sock.makefile("w", encoding="utf-8", newline="\n")
        return cls(stdin, stdout, sock)

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
        if not found and len(sys.argv) > 1 and self._socket is None:
            # very old Asterisk passes them on the command line
            found = sys.argv[1:]
        return found

    def stage(self) -> tuple[str, list[int]]:
        """The first argument: `stage` or `stage---N[---M]` (VICIdial's flag syntax)."""
        return parse_stage(self.args[0] if self.args else "")

    # --- commands -------------------------------------------------------------------
    def check(self) -> None:
        """Raise `Hangup` if a SIGHUP or a HANGUP line arrived since the last command."""
        if hangup.received():
            raise Hangup("SIGHUP from Asterisk")

    def _execute(self, command: str, *args: object) -> dict:
        self.finish_sound()
        self.check()
        try:
            return self._agi.execute(command, *args)
        except pyst.AGISIGPIPEHangup as exc:
            raise Hangup("broken pipe to Asterisk") from exc
        except pyst.AGIHangup as exc:
            raise Hangup(str(exc)) from exc
        except pyst.AGIInvalidCommand as exc:
            raise AgiError(f"510 {exc}") from exc
        except OSError as exc:                        # a FastAGI connection reset
            raise Hangup(f"connection to Asterisk lost: {exc}") from exc

    def get_variable(self, name: str) -> str:
        reply = self._execute("GET VARIABLE", name)
        return reply["result"][1] if reply["result"][0] == "1" else ""

    def stream_file(self, sound: str) -> None:
        """Play a sound to the end."""
        self.start_sound(sound)
        self.finish_sound()

    def start_sound(self, sound: str) -> None:
        """Start playing a sound and return at once: `wait` keeps watching the channel while
        it plays, `finish_sound` (or the next command) takes its reply. Asterisk answers a
        STREAM FILE only when the sound ends, so a blocking play would hold up a transfer."""
        self.finish_sound()
        self.check()
        try:
            self._agi.send_command("STREAM FILE", sound, '""', 0)
        except OSError as exc:
            raise Hangup("broken pipe to Asterisk") from exc
        self._playing = sound

    @property
    def playing(self) -> bool:
        return bool(self._playing)

    def finish_sound(self) -> None:
        """Take the reply of the sound `start_sound` began (waits for its end, or for AMI's
        ControlPlayback stop). result=-1 is a hang-up or a sound that could not be played:
        CHANNEL STATUS (refused with 511 on a dead channel) tells which, so a missing file
        never ends a call."""
        sound, self._playing = self._playing, ""
        if not sound:
            return
        if int(self._agi.get_result()["result"][0]) < 0:
            self._execute("CHANNEL STATUS")
            self.warn(f"could not play sound {sound!r}")

    def goto(self, context: str, extension: str, priority: int = 1) -> None:
        """Where the channel continues in the dialplan when this script exits."""
        self._execute("SET CONTEXT", context)
        self._execute("SET EXTENSION", extension)
        self._execute("SET PRIORITY", priority)

    def detach(self) -> None:
        """Let Asterisk go on with the dialplan now (set by `goto`): it takes the end of our
        stdout (or of the FastAGI connection) for the script's end, while we finish the
        clean-up."""
        self.finish_sound()
        if self._socket is not None:
            with contextlib.suppress(OSError):  # Asterisk gone already: nothing to let go
                self._agi.stdout.flush()
                self._socket.shutdown(socket.SHUT_WR)
            return
        try:
            if self._agi.stdout.fileno() != 1:
                return
            self._agi.stdout.flush()
        except (OSError, ValueError, io.UnsupportedOperation):
            return                      # not a real AGI pipe (an in-process test)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):
            os.dup2(null, fd)
        os.close(null)

    def close(self) -> None:
        """End a FastAGI connection now: its files hold the socket open (a per-call script's
        pipes end with its process)."""
        if self._socket is None:
            return
        for stream in (self._agi.stdout, self._stdin):
            with contextlib.suppress(OSError):  # unflushed output to an Asterisk gone
                stream.close()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()

    def goto_invalid(self) -> None:
        """Extension `i` of the current context: buzz and hang up (our dialplan)."""
        self._execute("SET EXTENSION", "i")
        self._execute("SET PRIORITY", 1)

    def wait(self, seconds: float, wake_on: Sequence[int] = ()) -> bool:
        """Sleep at most `seconds`, waking with `Hangup` as soon as Asterisk says the channel
        is gone, early when a sound being played ends, and (returning True) as soon as one of
        the file descriptors `wake_on` has something to read."""
        self.check()
        try:
            fd = self._stdin.fileno()
        except (OSError, io.UnsupportedOperation):
            fd = None
        watched = ([fd] if fd is not None else []) + list(wake_on)
        with hangup.interruptible():
            ready = select.select(watched, [], [], seconds)[0] if watched else \
                select.select([], [], [], seconds)[0]
        if fd is not None and fd in ready:
            if self._playing:
                self.finish_sound()
            else:
                line = os.read(fd, 4096)
                raise Hangup("EOF on the AGI channel" if not line else "HANGUP line from Asterisk")
        self.check()
        return any(f in ready for f in wake_on)

    def exec(self, application: str, options: str) -> None:
        """Run a dialplan application on this channel (AGI EXEC)."""
        self._execute("EXEC", application, f'"{options}"')


def parse_stage(argument: str) -> tuple[str, list[int]]:
    """`accepted---10` -> ('accepted', [10]); a non-numeric timeout is an error."""
    stage, *fields = argument.split("---")
    timeouts = []
    for field in fields:
        if not field.strip().isdigit():
            raise ValueError(f"timeout {field!r} in {argument!r} is not a number of seconds")
        timeouts.append(int(field))
    return stage.strip(), timeouts
