"""The test's own AMI session: every event Asterisk sends, timestamped, and bounded waits.

One reader thread owns the socket's input; tests send actions from their own thread and await
either the action's Response or an event condition, always with a bound (no sleeps).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from press3way.telephony.ami import AMIClient, AMIError, Message


@dataclass(frozen=True)
class Event:
    at: float                    # time.monotonic() when it was read
    fields: Message

    @property
    def name(self) -> str:
        return self.fields.get("Event", "")

    def __getitem__(self, key: str) -> str:
        return self.fields.get(key, "")

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


class WaitTimeout(AssertionError):
    """A condition the test awaited did not come true in time."""


class Recorder(AMIClient):
    def __init__(self, host: str, port: int):
        super().__init__(host, port, timeout=5.0)
        self.events: list[Event] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, user: str, secret: str) -> Recorder:
        self.connect()
        reply = self.request("Login", [("Username", user), ("Secret", secret), ("Events", "on")])
        if reply.get("Response") != "Success":
            raise AMIError(f"AMI login refused: {reply.get('Message', '')}")
        self._thread = threading.Thread(target=self._read_forever, name="ami-recorder",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.logoff()

    def _read_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll(wait=0.2)
            except AMIError:
                return

    def _dispatch(self, message: Message) -> None:
        with self._changed:
            if "Event" in message:
                self.events.append(Event(time.monotonic(), message))
            super()._dispatch(message)          # Responses, by ActionID
            self._changed.notify_all()

    # --- actions and waits -------------------------------------------------------------------
    @staticmethod
    def now() -> float:
        """The clock events are stamped with (pass it as `since`)."""
        return time.monotonic()

    def action(self, action: str, timeout: float = 5.0, **fields: str) -> Message:
        """Send an action from the test's thread and await its Response."""
        return self.reply(self.send(action, list(fields.items())), timeout, action)

    def reply(self, action_id: str, timeout: float = 5.0, action: str = "an action") -> Message:
        """Await the Response to an action already sent (`send` returned `action_id`)."""
        return self.wait(lambda: self._responses.pop(action_id, None), timeout,
                         f"a reply to {action}")

    def wait(self, condition: Callable[[], object], timeout: float, what: str):
        """Await a truthy `condition()` (checked on every message); its value."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = condition()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"waited {timeout} s for {what}")
                self._changed.wait(left)

    def wake(self) -> None:
        """Every waiter checks its condition now (one that also awaits something else)."""
        with self._changed:
            self._changed.notify_all()

    def only(self, *names: str) -> None:
        """From now on receive only the events called `names` (AMI Filter): with hundreds
        of channels, VarSet and the like cost Asterisk and the reader more than the calls."""
        reply = self.action("Filter", Operation="Add",
                            Filter=f"^Event: ({'|'.join(names)})[[:space:]]")
        if reply.get("Response") != "Success":
            raise AMIError(f"AMI Filter refused: {reply.get('Message', '')}")

    def forget(self) -> None:
        """Drop the events read so far (a new call starts; waits stay cheap all session)."""
        with self._changed:
            self.events.clear()

    def events_since(self, since: float) -> list[Event]:
        """Every event read after `since` (a copy: the reader goes on appending)."""
        with self._changed:
            return [e for e in self.events if e.at >= since]

    def find(self, name: str, since: float = 0.0, **match: str) -> list[Event]:
        """Events called `name` read after `since` whose fields contain `match`."""
        with self._changed:
            return [e for e in self.events if e.name == name and e.at >= since
                    and all(match_one(e.get(k), v) for k, v in match.items())]

    def wait_event(self, name: str, timeout: float, since: float = 0.0, count: int = 1,
                   **match: str) -> list[Event]:
        """Await `count` events like `find` returns; those events."""
        def enough() -> list[Event] | None:
            found = self.find(name, since, **match)
            return found[:count] if len(found) >= count else None
        return self.wait(enough, timeout, f"{count} {name} event(s) with {match}")


def match_one(value: str, wanted: str) -> bool:
    """`wanted` ending in `*` matches a prefix; otherwise the whole value."""
    return value.startswith(wanted[:-1]) if wanted.endswith("*") else value == wanted
