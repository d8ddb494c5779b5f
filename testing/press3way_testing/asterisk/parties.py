"""Outside parties on a schedule: what the number does when our call reaches it.

The schedule lives in AstDB (party/<number>/<key>), which the dialplan's [press3way-party]
reads; the test writes it over AMI before the call. Presses at moments only the test knows
(after an event) are sent with `press`, AMI PlayDTMF on the party's own channel.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from press3way.telephony.ami import AMIClient
from press3way_testing.asterisk.configs import AMI_SECRET, AMI_USER
from press3way_testing.asterisk.instance_dialplan import PARTY_FAMILY
from press3way_testing.asterisk.recorder import Recorder

NEVER = 3600.0
PRESS_MS = 120               # how long a key is held down


@dataclass(frozen=True)
class Party:
    number: str                  # the 10-digit phone number
    mode: str = "answer"         # answer | busy | noanswer | congestion
    ring: float = 0.3            # seconds of ringing before answering (or before busy)
    press_at: float | None = None    # seconds after answering to press `digits`
    digits: str = "1"
    hangup_at: float = NEVER     # seconds after answering to hang up

    def schedule(self) -> dict[str, str]:
        keys = {"mode": self.mode, "ring": f"{self.ring:g}", "digits": self.digits,
                "hangup_at": f"{self.hangup_at:g}"}
        if self.press_at is not None:
            keys["press_at"] = f"{self.press_at:g}"
        return keys


def arrange(recorder: Recorder, *parties: Party) -> None:
    """Write each party's schedule (replacing what an earlier test left)."""
    for party in parties:
        family = f"{PARTY_FAMILY}/{party.number}"
        recorder.action("DBDelTree", Family=family)
        for key, value in party.schedule().items():
            reply = recorder.action("DBPut", Family=family, Key=key, Val=value)
            if reply.get("Response") != "Success":
                raise RuntimeError(f"DBPut {family}/{key} refused: {reply.get('Message')}")


def press(recorder: Recorder, channel: str, digit: str = "1") -> None:
    """The party presses `digit` now: DTMF written to its side reaches our outside leg."""
    _pressed(channel, recorder.action("PlayDTMF", Channel=channel, Digit=digit,
                                      Duration=str(PRESS_MS)))


def press_together(recorder: Recorder, channels: list[str], digit: str = "1") -> None:
    """Every party presses at the same moment. Asterisk runs one manager session's actions
    one after another (PlayDTMF returns when the digit ends), so each press gets a session
    and a thread, released together."""
    sessions = [AMIClient(recorder.host, recorder.port).connect() for _ in channels]
    start = threading.Barrier(len(channels))

    def one(session: AMIClient, channel: str) -> dict:
        start.wait(timeout=5)
        return session.request("PlayDTMF", [("Channel", channel), ("Digit", digit),
                                            ("Duration", str(PRESS_MS))])
    try:
        for session in sessions:
            session.request("Login", [("Username", AMI_USER), ("Secret", AMI_SECRET),
                                      ("Events", "off")])
        with ThreadPoolExecutor(len(channels)) as pool:
            replies = list(pool.map(one, sessions, channels))
    finally:
        for session in sessions:
            session.logoff()
    for channel, reply in zip(channels, replies):
        _pressed(channel, reply)


def _pressed(channel: str, reply: dict) -> None:
    if reply.get("Response") != "Success":
        raise RuntimeError(f"PlayDTMF on {channel} refused: {reply.get('Message')}")
