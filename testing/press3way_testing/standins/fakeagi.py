"""Asterisk's side of AGI, for running a real AGI script without Asterisk.

Starts the script, writes the `agi_*` environment, and answers each command the way Asterisk
does: `200 result=...`, `510` for an unknown command, `511` once the channel is dead. A digit
pressed on the `SimChannel` lands in `WAIT FOR DIGIT`, and in `STREAM FILE` when it is one of
its escape digits; at any other moment of the run res_agi throws it away. `STREAM FILE` blocks
the script as long as the sound lasts (or until AMI ControlPlayback stops it). A hang-up, or an
AMI Redirect, sends SIGHUP (or a `HANGUP` line) and 511s from then on.

With `server` (a `FastAGIServer`) the same conversation runs over a FastAGI connection, as
`AGI(agi://127.0.0.1:PORT/script,...)` would: the environment gains `agi_network`, a
hang-up is always a `HANGUP` line, and the run ends when the server logs the call's end.
"""

from __future__ import annotations

import itertools
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

from press3way_testing.fastagi import FastAGIServer
from press3way_testing.standins import sounds
from press3way_testing.standins.channel import ALL_DIGITS, SimChannel

DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
# Commands an AGI may still run on a dead channel (the `h` extension).
DEAD_OK = ("GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "VERBOSE", "NOOP",
           "SET CONTEXT", "SET EXTENSION", "SET PRIORITY")
KNOWN = ("ANSWER", "STREAM FILE", "WAIT FOR DIGIT", "HANGUP", "EXEC", "CHANNEL STATUS") + DEAD_OK
_RUNS = itertools.count(1)
SAMPLES_PER_S = 8000
# What STREAM FILE answers when AMI ControlPlayback stopped its sound. Unconfirmed: being checked
# on a real Asterisk (its waitstream may hand back the control frame's code instead of 0).
STOPPED_RESULT = 0


@dataclass
class AGIResult:
    exit_code: int | None
    transcript: list[tuple[float, str, str]]     # (seconds, '->' command | '<-' reply, text)
    context: str
    extension: str
    priority: int
    stderr: str
    hung_up: bool
    redirected: bool = False          # an AMI Redirect ended the run (the channel lives on)

    @property
    def commands(self) -> list[str]:
        return [text for _, way, text in self.transcript if way == "->"]

    def format(self) -> str:
        return "\n".join(f"{t:8.3f} {way} {text}" for t, way, text in self.transcript)


@dataclass
class FakeAGI:
    """One AGI script run on one `SimChannel`."""
    script: str
    channel: SimChannel
    args: list[str] = field(default_factory=list)         # agi_arg_1 ... (the dialplan's)
    interpreter: str | None = None     # e.g. sys.executable for a script not marked executable
    env: dict[str, str] = field(default_factory=dict)    # agi_* overrides
    context: str = "default"
    extension: str = "s"
    priority: int = 1
    # or 'line': a HANGUP line instead of SIGHUP; 'eof': Asterisk's side closes (stdin, or
    # the FastAGI connection's write side) and answers nothing more
    hangup_mode: str = "sighup"
    dead: bool = False                 # running from the h extension
    missing_sounds: tuple[str, ...] = ()   # STREAM FILE of these fails (result=-1), as Asterisk
    process_env: dict[str, str] | None = None
    observer: Callable[[str, str], None] | None = None   # sees each command and reply
    hangup_on_command: int | None = None   # the channel hangs up as command N (1-based) arrives
    # Sent instead of the agi_* lines (hostile input tests); without the closing blank line it
    # stands for Asterisk going away mid-environment, so stdin is closed after it.
    raw_environment: bytes | None = None
    server: FastAGIServer | None = None    # call this FastAGI server instead of the script

    def __post_init__(self) -> None:
        self.transcript: list[tuple[float, str, str]] = []
        self._notified = False
        self.commands_seen = 0
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        # over FastAGI one per AGI run, shaped like Asterisk's: the server logs each call by it
        self.uniqueid = (self.channel.uniqueid if self.server is None
                         else f"{int(time.time())}.{next(_RUNS)}")

    # --- the environment Asterisk writes first ----------------------------------------
    def agi_environment(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.environment().items()]

    def environment(self) -> dict[str, str]:
        script = os.path.basename(self.script)
        env = {
            "agi_request": script, "agi_channel": self.channel.name, "agi_language": "en",
            "agi_type": self.channel.name.split("/")[0], "agi_uniqueid": self.uniqueid,
            "agi_version": "18.21.0", "agi_callerid": "unknown", "agi_calleridname": "unknown",
            "agi_callingpres": "0", "agi_callingani2": "0", "agi_callington": "0",
            "agi_callingtns": "0", "agi_dnid": "unknown", "agi_rdnis": "unknown",
            "agi_context": self.context, "agi_extension": self.extension,
            "agi_priority": str(self.priority), "agi_enhanced": "0.0", "agi_accountcode": "",
            "agi_threadid": str(os.getpid()),
        }
        if self.server is not None:
            env.update(agi_network="yes", agi_network_script=script,
                       agi_request=f"agi://127.0.0.1:{self.server.port}/{script}")
        for n, arg in enumerate(self.args, 1):
            env[f"agi_arg_{n}"] = arg
        env.update(self.env)
        return env

    # --- running ----------------------------------------------------------------------
    def run(self, timeout: float = 120) -> AGIResult:
        if self.server is not None:
            return self._run_fastagi(timeout)
        stderr = tempfile.TemporaryFile()
        command = [self.interpreter, self.script] if self.interpreter else [self.script]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr, env=self.process_env)
        deadline = time.monotonic() + timeout
        finished = False
        try:
            with self.channel.interrupt_pipe() as hangup_fd:
                self._converse(deadline, timeout, hangup_fd)
            finished = True
        except BrokenPipeError:
            finished = True
        finally:
            if not finished and self.proc.poll() is None:   # nobody will answer it any more
                self.proc.kill()
            exit_code = self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
            stderr.seek(0)
            err = stderr.read().decode("utf-8", "replace")
            stderr.close()
        return self._result(exit_code, err)

    def _run_fastagi(self, timeout: float) -> AGIResult:
        watch = self.server.watch(self.uniqueid, self.channel.name)
        deadline = time.monotonic() + timeout
        self.sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.sock.settimeout(None)
        try:
            with self.channel.interrupt_pipe() as hangup_fd:
                self._converse(deadline, timeout, hangup_fd)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.sock.close()           # Asterisk's side of the AGI ends here
        if not watch.ended.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"FastAGI call {watch.uniqueid} still running after {timeout} s")
        return self._result(watch.status, "".join(watch.lines))

    def _result(self, exit_code: int | None, err: str) -> AGIResult:
        hung_up = self.channel.is_hung_up()
        return AGIResult(exit_code, self.transcript, self.context, self.extension, self.priority,
                         err, hung_up, not hung_up and self.channel.interrupted())

    def _converse(self, deadline: float, timeout: float, hangup_fd: int) -> None:
        """Write the environment, then answer command after command until the script exits."""
        if self.raw_environment is not None:
            self._write(self.raw_environment)
            if not self.raw_environment.endswith(b"\n\n"):
                self._close_input()
        else:
            self._send("\n".join(self.agi_environment()) + "\n\n", log=False)
        buffer = b""
        out_fd = self.sock.fileno() if self.sock is not None else self.proc.stdout.fileno()
        poller = select.poll()          # not select(): a busy simulator has fds above 1024
        poller.register(out_fd, select.POLLIN)
        poller.register(hangup_fd, select.POLLIN)
        watching_hangup = True
        while True:
            if self.channel.interrupted() and not self.dead:
                self._notify_hangup()
            if watching_hangup and (self._notified or self.dead):
                poller.unregister(hangup_fd)
                watching_hangup = False
            if b"\n" not in buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.script} still running after {timeout} s")
                if any(fd == out_fd for fd, _ in poller.poll(1000)):
                    chunk = os.read(out_fd, 65536)
                    if not chunk:
                        return
                    buffer += chunk
                continue
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.decode("utf-8", "replace").strip()
            self.commands_seen += 1
            if self.commands_seen == self.hangup_on_command:
                self.channel.hang_up(f"hang-up injected at command {self.commands_seen}")
            self._log("->", line)
            self._send(self.answer(line) + "\n")

    def _log(self, way: str, text: str) -> None:
        self.transcript.append((round(self.channel.elapsed(), 3), way, text))
        if self.observer:
            self.observer(way, text)

    def _send(self, text: str, log: bool = True) -> None:
        if log:
            self._log("<-", text.strip())
        self._write(text.encode())

    def _write(self, data: bytes) -> None:
        try:
            if self.sock is not None:
                self.sock.sendall(data)
            else:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            pass

    def _close_input(self) -> None:
        try:
            if self.sock is not None:
                self.sock.shutdown(socket.SHUT_WR)
            else:
                self.proc.stdin.close()
        except OSError:                 # the other side has gone already
            pass

    def _notify_hangup(self) -> None:
        if self._notified:
            return
        self._notified = True
        why = (f"hung up ({self.channel.hangup_cause})" if self.channel.is_hung_up()
               else "redirected (AMI Redirect)")
        if self.hangup_mode == "eof":
            self._log("!!", f"channel {why}: end of input")
            self._close_input()
            return
        by_line = self.hangup_mode == "line" or self.sock is not None   # FastAGI: no signal
        self._log("!!", f"channel {why}: {'HANGUP line' if by_line else 'SIGHUP'}")
        if by_line:
            self._send("HANGUP\n", log=False)
        elif self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    # --- answering one command ----------------------------------------------------------
    def answer(self, line: str) -> str:
        command = next((c for c in KNOWN if line.upper().startswith(c)), None)
        if command is None:
            return "510 Invalid or unknown command"
        if self.dead and command not in DEAD_OK:
            return DEAD_CHANNEL
        if self._notified or (not self.dead and self.channel.interrupted()):
            self._notify_hangup()
            return DEAD_CHANNEL
        args = split_arguments(line[len(command):])
        handler = getattr(self, "_" + command.lower().replace(" ", "_"))
        return handler(args)

    def _answer(self, args: list[str]) -> str:
        return "200 result=0"

    def _play(self, seconds: float | None, digits: str, sound: str = "") -> tuple[str, str, float]:
        start = self.channel.elapsed()
        what, digit = self.channel.pause(seconds, digits, sound=sound)
        return what, digit, self.channel.elapsed() - start

    def _stream_file(self, args: list[str]) -> str:
        sound = args[0] if args else ""
        digits = args[1] if len(args) > 1 else ""
        if sound in self.missing_sounds:
            return "200 result=-1 endpos=0"
        what, digit, took = self._play(self.channel.sound_seconds(sound), digits, sound)
        # samples of the sound played: all of them, or as far as it got (in the sound's time)
        played = sounds.seconds(sound) if what == "done" else \
            took / (self.channel.sound_scale or 1.0)
        endpos = int(played * SAMPLES_PER_S)
        if what in ("hangup", "redirect"):
            self._notify_hangup()
            return f"200 result=-1 endpos={endpos}"
        if what == "stopped":
            return f"200 result={STOPPED_RESULT} endpos={endpos}"
        return f"200 result={ord(digit) if digit else 0} endpos={endpos}"

    def _wait_for_digit(self, args: list[str]) -> str:
        ms = int(args[0]) if args and args[0].lstrip("-").isdigit() else -1
        what, digit, _ = self._play(None if ms < 0 else ms / 1000, ALL_DIGITS)
        if what in ("hangup", "redirect"):
            self._notify_hangup()
            return "200 result=-1"
        return f"200 result={ord(digit) if digit else 0}"

    def _get_variable(self, args: list[str]) -> str:
        name = args[0] if args else ""
        if name in self.channel.variables:
            return f"200 result=1 ({self.channel.variables[name]})"
        return "200 result=0"

    _get_full_variable = _get_variable

    def _set_variable(self, args: list[str]) -> str:
        if len(args) >= 2:
            self.channel.variables[args[0]] = args[1]
        return "200 result=1"

    def _set_context(self, args: list[str]) -> str:
        self.context = args[0] if args else self.context
        return "200 result=0"

    def _set_extension(self, args: list[str]) -> str:
        self.extension = args[0] if args else self.extension
        return "200 result=0"

    def _set_priority(self, args: list[str]) -> str:
        if args and args[0].isdigit():
            self.priority = int(args[0])
        return "200 result=0"

    def _hangup(self, args: list[str]) -> str:
        self.channel.hang_up("script hung up")
        return "200 result=1"

    def _verbose(self, args: list[str]) -> str:
        return "200 result=1"

    def _noop(self, args: list[str]) -> str:
        return "200 result=0"           # as Asterisk 22 replies (tests/asterisk/test_facts.py)

    def _exec(self, args: list[str]) -> str:
        return "200 result=0"

    def _channel_status(self, args: list[str]) -> str:
        return "200 result=6"


def split_arguments(text: str) -> list[str]:
    """AGI arguments: words, or double-quoted strings (possibly empty)."""
    return [m.group(1) if m.group(1) is not None else m.group(2)
            for m in re.finditer(r'"([^"]*)"|(\S+)', text)]


def parse_press(text: str) -> tuple[float, str]:
    """`1@0.5` -> (0.5, '1'): the key and when (seconds after the script starts)."""
    digit, sep, when = text.partition("@")
    if not sep or len(digit) != 1 or digit not in "0123456789*#":
        raise ValueError(f"{text!r}: expected DIGIT@SECONDS, for example 1@0.5")
    return float(when), digit
