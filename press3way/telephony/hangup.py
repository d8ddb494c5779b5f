"""Asterisk's SIGHUP, from the script's first line to its last.

The AGI scripts install this handler before anything else is imported, so a hang-up during
start-up is never lost. A notice only records itself, except inside `interruptible()` (a
blocking database, AMI or channel wait), where it raises `Hangup` at once: a call whose
database is stuck still ends as soon as Asterisk says the channel is gone.

The state belongs to the thread running the call: one per process in per-call mode (the
signal handler runs in the main thread), one per call in the FastAGI server.
"""

from __future__ import annotations

import signal
from _thread import _local  # threading.local without threading's start-up cost


class Hangup(Exception):
    """The channel hung up (SIGHUP, HANGUP line, 511 reply or EOF)."""


class _CallState(_local):
    received = False        # Asterisk said the channel is gone
    blocking = 0            # depth of interruptible waits in progress
    expected = False        # an ending stage (h, t, i): the hang-up is why we run


_State = _CallState()


def _on_sighup(signum: int, frame: object) -> None:
    _State.received = True
    if _State.blocking and not _State.expected:
        raise Hangup("SIGHUP from Asterisk")


def install() -> None:
    signal.signal(signal.SIGHUP, _on_sighup)


def ignore() -> None:
    """The work is done: a hang-up now must not kill the interpreter's shutdown (which puts
    the default handler back)."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def received() -> bool:
    """Whether a hang-up counts now (never in an ending stage)."""
    return _State.received and not _State.expected


def note() -> None:
    """A hang-up learnt another way (a HANGUP line)."""
    _State.received = True


def expect(ending: bool = True) -> None:
    """Whether this run finishes its work whatever Asterisk says (stages run from h, t, i)."""
    _State.expected = ending


class interruptible:
    """`with interruptible():` a blocking wait that a SIGHUP cuts short (raises `Hangup`).
    A class, not contextlib: this module is imported on every call's first line."""

    def __enter__(self) -> None:
        if received():
            raise Hangup("SIGHUP from Asterisk")
        _State.blocking += 1

    def __exit__(self, *exc: object) -> None:
        _State.blocking -= 1
