"""The AGI view of one channel: its environment and the commands our flows use.

Kept light on purpose: an AGI script builds its `Channel` on its first lines and can send its
first command (`ask`) before anything slow is imported; pyst2 (`agiwire`) loads with the next
command. The same channel runs over a FastAGI socket (`sock`, see fastagi.calls): there a hang-up
is a `HANGUP` line or EOF, never a signal.
"""

from __future__ import annotations

import io
import os
import select
import sys

from . import hangup
from .hangup import Hangup

TYPE_CHECKING = False
if TYPE_CHECKING:       # names for annotations only: `typing` costs every call's start-up
    import socket
    from typing import IO, Callable, Sequence

    from .agiwire import Wire


class AgiError(Exception):
    """Asterisk refused a command or sent something that is not an AGI reply."""


class Channel:
    """The AGI view of one Asterisk channel: its environment and the commands our flows use.

    `ask` names channel variables to request at once, right after the environment is read:
    their replies wait in the pipe while the script loads the rest, and `get_variable` takes
    them first."""

    def __init__(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
                 sock: socket.socket | None = None, ask: Sequence[str] = (),
                 env: dict[str, str] | None = None):
        if sock is None:
            try:            # before the environment is read: a hang-up then is not lost
                hangup.install()
            except ValueError:  # not the main thread (an in-process test): no signals
                pass
        if stdin is None:  # undecodable bytes in caller id text must not kill the script
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        self._stdin, self._stdout = stdin, stdout or sys.stdout
        self._socket = sock
        # `env`: read already (the FastAGI server reads it within bounds before a leg runs)
        self.env: dict[str, str] = read_environment(stdin) if env is None else env
        self.warn: Callable[[str], None] = lambda message: None    # set to the AGI log
        self._playing = ""                  # a sound started with `start_sound`, not yet done
        self._wire: Wire | None = None
        self._asked = list(ask)             # requested, reply not read yet
        self._answers: dict[str, str] = {}
        if self._asked:
            try:
                self._stdout.write("".join(f"GET VARIABLE {name}\n" for name in self._asked))
                self._stdout.flush()
            except OSError:                 # Asterisk gone already: the next command says so
                self._asked = []

    @property
    def _agi(self) -> Wire:
        """pyst2, loaded with the first command that needs it."""
        if self._wire is None:
            from .agiwire import Wire  # noqa: PLC0415 - see the module docstring
            self._wire = Wire(self._stdin, self._stdout, self.env)
        return self._wire

    def _take_answers(self) -> None:
        """Read the replies to `ask` (before anything else is read or sent)."""
        while self._asked:
            name = self._asked.pop(0)
            result, value = self._agi.reply()
            self._answers[name] = value if result == "1" else ""

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

    def _execute(self, command: str, *args: object) -> tuple[str, str]:
        self._take_answers()
        self.finish_sound()
        self.check()
        return self._agi.command(command, *args)

    def get_variable(self, name: str) -> str:
        self._take_answers()
        if name in self._answers:
            return self._answers.pop(name)
        result, value = self._execute("GET VARIABLE", name)
        return value if result == "1" else ""

    def stream_file(self, sound: str) -> None:
        """Play a sound to the end."""
        self.start_sound(sound)
        self.finish_sound()

    def start_sound(self, sound: str) -> None:
        """Start playing a sound and return at once: `wait` keeps watching the channel while
        it plays, `finish_sound` (or the next command) takes its reply. Asterisk answers a
        STREAM FILE only when the sound ends, so a blocking play would hold up a transfer."""
        self._take_answers()
        self.finish_sound()
        self.check()
        self._agi.send("STREAM FILE", sound, '""', 0)
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
        if int(self._agi.reply()[0]) < 0:
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
            try:
                self._stdout.flush()
                self._socket.shutdown(1)        # socket.SHUT_WR
            except OSError:                     # Asterisk gone already: nothing to let go
                pass
            return
        try:
            if self._stdout.fileno() != 1:
                return
            self._stdout.flush()
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
        for close in (self._stdout.close, self._stdin.close,
                      lambda: self._socket.shutdown(2)):        # socket.SHUT_RDWR
            try:
                close()
            except OSError:                     # unflushed output to an Asterisk gone
                pass
        self._socket.close()

    def goto_invalid(self) -> None:
        """Extension `i` of the current context: buzz and hang up (our dialplan)."""
        self._execute("SET EXTENSION", "i")
        self._execute("SET PRIORITY", 1)

    def wait(self, seconds: float, wake_on: Sequence[int] = ()) -> bool:
        """Sleep at most `seconds`, waking with `Hangup` as soon as Asterisk says the channel
        is gone, early when a sound being played ends, and (returning True) as soon as one of
        the file descriptors `wake_on` has something to read."""
        self._take_answers()
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


def read_environment(stdin: IO[str]) -> dict[str, str]:
    """The `agi_name: value` lines Asterisk writes first, up to an empty line."""
    env = {}
    for line in iter(stdin.readline, ""):
        key, _, value = line.strip().partition(":")
        if not key:
            break
        env[key.strip()] = value.strip()
    return env


def parse_stage(argument: str) -> tuple[str, list[int]]:
    """`accepted---10` -> ('accepted', [10]); a non-numeric timeout is an error."""
    stage, *fields = argument.split("---")
    timeouts = []
    for field in fields:
        if not field.strip().isdigit():
            raise ValueError(f"timeout {field!r} in {argument!r} is not a number of seconds")
        timeouts.append(int(field))
    return stage.strip(), timeouts
