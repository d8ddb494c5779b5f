"""A simulated Asterisk channel: its clock, the party's key presses, sounds, hang-up, redirect.

The party presses keys at set times whoever is listening, as a person does. A press reaches
only what listens at that instant, as on a real channel: `Background`/`WaitExten` keep any
digit, `STREAM FILE` its escape digits, `WAIT FOR DIGIT` any; a press while `Playback` plays,
while an AGI script runs other commands, or between applications is thrown away.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from press3way_testing.standins import sounds

ALL_DIGITS = "0123456789*#"
_UNIQUE_SERIAL = itertools.count(1)


def new_uniqueid() -> str:
    """What Asterisk names a channel when nobody chose a ChannelId: `<epoch>.<n>`."""
    return f"{int(time.time())}.{next(_UNIQUE_SERIAL)}"


@dataclass
class SimChannel:
    name: str
    variables: dict[str, str] = field(default_factory=dict)
    presses: list[tuple[float, str]] = field(default_factory=list)   # (seconds, digit)
    hangup_at: float | None = None
    sound_scale: float = 1.0
    t0: float = field(default_factory=time.monotonic)
    uniqueid: str = field(default_factory=new_uniqueid)
    # Told of what happens on the channel: ('dtmf', digit, 'kept'|'thrown away'), ('hangup', cause)
    observer: Callable[..., None] | None = None

    def __post_init__(self) -> None:
        self.hungup = threading.Event()
        self.hangup_cause = ""
        self._cond = threading.Condition()
        self._wakers: list[int] = []             # pipes written on hang-up or redirect
        self._timers: list[threading.Timer] = []
        self._listening: str | None = None       # digits the current reader keeps
        self._heard: list[str] = []
        self.playing = ""                        # the sound being played, if any
        self._stopped = False                    # ControlPlayback stop arrived
        self._goto: tuple[str, str, int] | None = None
        for when, digit in self.presses:
            self._at(when - self.elapsed(), self.press, digit)
        if self.hangup_at is not None:
            self._at(self.hangup_at - self.elapsed(), self.hang_up, "party hung up")

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _at(self, delay: float, action: Callable[..., None], *args: object) -> None:
        timer = threading.Timer(max(0.0, delay), action, args)
        timer.daemon = True
        with self._cond:
            if self.hungup.is_set():
                return
            self._timers.append(timer)
        timer.start()

    # --- what the party and Asterisk do to the channel -----------------------------------
    def press(self, digit: str) -> None:
        """The party presses `digit` now."""
        with self._cond:
            if self.hungup.is_set():
                return
            kept = self._listening is not None and digit in self._listening
            if kept:
                self._heard.append(digit)
                self._cond.notify_all()
        self._tell("dtmf", digit, "kept" if kept else "thrown away")

    def press_later(self, delay: float, digit: str) -> None:
        """The party presses `digit` `delay` seconds from now."""
        self._at(delay, self.press, digit)

    def hang_up(self, cause: str = "hangup") -> None:
        with self._cond:
            if self.hungup.is_set():
                return
            self.hangup_cause = cause
            self.hungup.set()
            self._wake()
        self.cancel_schedule()
        self._tell("hangup", cause)

    def cancel_schedule(self) -> None:
        """The party's presses and hang-up still to come will not happen (the run is over)."""
        with self._cond:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    def redirect(self, context: str, exten: str, priority: int = 1) -> bool:
        """AMI Redirect: whatever runs ends (an AGI script is told the channel hung up, as
        Asterisk's async goto does) and the channel continues at the target."""
        with self._cond:
            if self.hungup.is_set():
                return False
            self._goto = (context, exten, priority)
            self._wake()
        return True

    def stop_playback(self) -> bool:
        """AMI ControlPlayback `stop`: the sound playing now ends at once. Whether one played."""
        with self._cond:
            if not self.playing:
                return False
            self._stopped = True
            self._cond.notify_all()
            return True

    def wait_until_playing(self, timeout: float) -> bool:
        """Block until a sound plays on the channel (for a ControlPlayback to land on it)."""
        with self._cond:
            return self._cond.wait_for(lambda: bool(self.playing), timeout)

    def _wake(self) -> None:
        self._cond.notify_all()
        for fd in self._wakers:
            os.write(fd, b"x")

    def _tell(self, *what: object) -> None:
        if self.observer:
            self.observer(*what)

    # --- what the running application sees ----------------------------------------------
    def is_hung_up(self) -> bool:
        return self.hungup.is_set()

    def interrupted(self) -> bool:
        """Hung up or redirected: what a running AGI script is told as a hang-up."""
        return self.hungup.is_set() or self._goto is not None

    def take_goto(self) -> tuple[str, str, int] | None:
        """Where a Redirect sends the channel (once), or None."""
        with self._cond:
            goto, self._goto = self._goto, None
            return goto

    @contextlib.contextmanager
    def interrupt_pipe(self) -> Iterator[int]:
        """A file descriptor that becomes readable on hang-up or redirect (for poll)."""
        read_fd, write_fd = os.pipe()
        with self._cond:
            self._wakers.append(write_fd)
            if self.interrupted():
                os.write(write_fd, b"x")
        try:
            yield read_fd
        finally:
            with self._cond:
                self._wakers.remove(write_fd)
            os.close(read_fd)
            os.close(write_fd)

    def sound_seconds(self, sound: str) -> float:
        return sounds.seconds(sound) * self.sound_scale

    def pause(self, seconds: float | None, digits: str = "", *, sound: str = "",
              schedule: list[tuple[float, str]] = (), keep_heard: bool = False) -> tuple[str, str]:
        """Listen for `digits` for `seconds` (None: until something happens), playing `sound`.

        Returns ('digit', d) for the first kept press, ('hangup', ''), ('redirect', ''),
        ('stopped', '') when ControlPlayback stopped the sound, or ('done', ''). `schedule`:
        presses (delay, digit) the party makes counted from now; `keep_heard`: digits kept by
        the reader just before (Asterisk's digit collection after Background) still count.
        """
        with self._cond:
            if not keep_heard:
                self._heard.clear()
            self._listening, self.playing, self._stopped = digits, sound, False
            self._cond.notify_all()
        for delay, digit in schedule:
            self.press_later(delay, digit)
        end = None if seconds is None else time.monotonic() + seconds
        try:
            with self._cond:
                while True:
                    if self.hungup.is_set():
                        return "hangup", ""
                    if self._goto is not None:
                        return "redirect", ""
                    if self._heard:
                        return "digit", self._heard.pop(0)
                    if self._stopped:
                        return "stopped", ""
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        return "done", ""
                    self._cond.wait(left)
        finally:
            with self._cond:
                self._listening, self.playing = None, ""
