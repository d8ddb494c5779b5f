"""A simulated Asterisk channel: its clock, the party's key presses and its hang-up.

The fake AGI harness and the simulator's dialplan both play sounds and wait for digits on it,
so a press scheduled at 1.2 s lands in whichever of them is running at 1.2 s.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

# How long each sound plays, in seconds (roughly the real prompts' lengths).
SOUND_SECONDS = {"hold_tone": 0.3, "buzz": 0.4, "sip-silence": 0.2, "outside-sales": 1.6,
                 "press-1": 0.8, "now": 0.4}
DEFAULT_SOUND_S = 0.5


@dataclass
class SimChannel:
    name: str
    variables: dict[str, str] = field(default_factory=dict)
    presses: list[tuple[float, str]] = field(default_factory=list)   # (seconds, digit)
    hangup_at: float | None = None
    sound_scale: float = 1.0
    t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.presses = sorted(self.presses)
        self.hungup = threading.Event()
        self.hangup_cause = ""
        self._lock = threading.Lock()
        self._wakers: list[int] = []      # pipes written when the channel hangs up

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def hang_up(self, cause: str = "hangup") -> None:
        with self._lock:
            if not self.hungup.is_set():
                self.hangup_cause = cause
                self.hungup.set()
                for fd in self._wakers:
                    os.write(fd, b"x")

    @contextlib.contextmanager
    def hangup_pipe(self) -> Iterator[int]:
        """A file descriptor that becomes readable when the channel hangs up (for select)."""
        read_fd, write_fd = os.pipe()
        with self._lock:
            self._wakers.append(write_fd)
            if self.hungup.is_set():
                os.write(write_fd, b"x")
        try:
            yield read_fd
        finally:
            with self._lock:
                self._wakers.remove(write_fd)
            os.close(read_fd)
            os.close(write_fd)

    def seconds_to_hangup(self) -> float | None:
        """How long until the scheduled hang-up (None: none scheduled)."""
        return None if self.hangup_at is None else max(0.0, self.hangup_at - self.elapsed())

    def is_hung_up(self) -> bool:
        if self.hangup_at is not None and self.elapsed() >= self.hangup_at:
            self.hang_up("party hung up")
        return self.hungup.is_set()

    def press_later(self, delay: float, digit: str) -> None:
        """The party presses `digit` `delay` seconds from now."""
        with self._lock:
            self.presses = sorted(self.presses + [(self.elapsed() + delay, digit)])

    def sound_seconds(self, sound: str) -> float:
        return SOUND_SECONDS.get(sound, DEFAULT_SOUND_S) * self.sound_scale

    def pause(self, seconds: float | None, digits: str = "") -> tuple[str, str]:
        """Let `seconds` pass (None = until something happens).

        Returns ('digit', d) for the first press of one of `digits` in that time (presses of
        other keys are consumed, as Asterisk drops them), ('hangup', '') or ('done', '').
        """
        end = None if seconds is None else self.elapsed() + seconds
        while True:
            if self.is_hung_up():
                return "hangup", ""
            now = self.elapsed()
            with self._lock:
                while self.presses and self.presses[0][0] <= now:
                    _, digit = self.presses.pop(0)
                    if digit in digits:
                        return "digit", digit
                next_press = self.presses[0][0] if self.presses else None
            wake = [t for t in (end, next_press, self.hangup_at) if t is not None]
            if end is not None and now >= end:
                return "done", ""
            self.hungup.wait(max(0.0, min(wake) - now) if wake else None)
