"""Outside parties on a schedule: what the number does when our call reaches it.

The schedule lives in AstDB (party/<number>/<key>), which the dialplan's [press3way-party]
reads; the test writes it over AMI before the call. Presses at moments only the test knows
(after an event) are sent with `press`, AMI PlayDTMF on the party's own channel.

A party of the simulator's language (`sim.Party`) is played as written: its ringing, answer,
press and hang-up counted from ringing go into its schedule (`schedule_of`), its presses
counted from the prompts are cued by the outside leg's own BackGround or WaitExten (`Cues`).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

from press3way.telephony.ami import AMIClient
from press3way_testing import sim
from press3way_testing.asterisk.configs import AMI_SECRET, AMI_USER
from press3way_testing.asterisk.instance_dialplan import PARTY_FAMILY
from press3way_testing.asterisk.recorder import Recorder, WaitTimeout

NEVER = 3600.0
PRESS_MS = 120               # how long a key is held down
RING_S = 0.3                 # how long a party that never answers rings before busy/forever
CUE_TIMEOUT_S = 90.0         # the longest a cued press waits for its cue


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


def schedule_of(party: sim.Party) -> Party:
    """What `party` does counted from ringing, as its AstDB schedule; ValueError for what a
    schedule cannot hold (it answers before it presses or hangs up, and presses once)."""
    ring = RING_S if party.answer is None else party.answer
    if len(party.presses) > 1:
        raise ValueError(f"{party.number}: one press counted from ringing per party on the "
                         "real Asterisk")
    after_answer = [(at - ring, digit) for at, digit in party.presses]
    early_hangup = party.hangup is not None and party.hangup < ring
    if early_hangup or any(at < 0 for at, _ in after_answer):
        raise ValueError(f"{party.number}: a press or hang-up before answering is not in the "
                         "real Asterisk's party schedule")
    mode = "busy" if party.busy else "noanswer" if party.answer is None else "answer"
    press_at, digits = after_answer[0] if after_answer else (None, "1")
    return Party(party.number, mode, ring, press_at, digits,
                 NEVER if party.hangup is None else party.hangup - ring)


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
    start = threading.Barrier(len(channels))

    def one(session: AMIClient, channel: str) -> dict:
        start.wait(timeout=5)
        return play_dtmf(session, channel, digit)
    with contextlib.ExitStack() as stack:
        sessions = [stack.enter_context(own_session(recorder)) for _ in channels]
        with ThreadPoolExecutor(len(channels)) as pool:
            replies = list(pool.map(one, sessions, channels))
    for channel, reply in zip(channels, replies):
        _pressed(channel, reply)


@contextlib.contextmanager
def own_session(recorder: Recorder) -> Iterator[AMIClient]:
    """A manager session of its own, without events (one PlayDTMF at a time each)."""
    session = AMIClient(recorder.host, recorder.port).connect()
    try:
        session.request("Login", [("Username", AMI_USER), ("Secret", AMI_SECRET),
                                  ("Events", "off")])
        yield session
    finally:
        session.logoff()


def play_dtmf(session: AMIClient, channel: str, digit: str) -> dict:
    return session.request("PlayDTMF", [("Channel", channel), ("Digit", digit),
                                        ("Duration", str(PRESS_MS))])


def _pressed(channel: str, reply: dict) -> None:
    if reply.get("Response") != "Success":
        raise RuntimeError(f"PlayDTMF on {channel} refused: {reply.get('Message')}")


CUES = (("during_prompt", "BackGround"), ("after_prompt", "WaitExten"))


class Cues:
    """The parties' presses counted from the prompts: each S seconds after the party's outside
    leg starts the application that plays them (BackGround) or follows them (WaitExten), as
    the simulator places them; `together` presses S seconds after every party pressing
    together reached WaitExten, at one moment (`press_together`). A party whose leg ends
    first, or never starts it, does not press; nor does one still waiting when the block
    ends."""

    def __init__(self, recorder: Recorder, parties: list[sim.Party], legs: str):
        """`legs`: how the outside legs' names start (`Local/9`)."""
        self.recorder, self.since, self.legs = recorder, recorder.now(), legs
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._play, args=(p.number, app, presses),
                                         daemon=True)
                        for p in parties for attr, app in CUES
                        if (presses := sorted(getattr(p, attr)))]
        together = {p.number: p.together for p in parties if p.together}
        if together:
            self.threads.append(threading.Thread(target=self._play_together, args=(together,),
                                                 daemon=True))

    def __enter__(self) -> Cues:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.recorder.wake()
        for thread in self.threads:
            thread.join(timeout=10)

    def _play(self, number: str, application: str, presses: list[tuple[float, str]]) -> None:
        try:
            leg = self.recorder.wait(lambda: self._cue(number, application), CUE_TIMEOUT_S,
                                     f"{number}'s outside leg to start {application}")
        except WaitTimeout:
            return
        if leg is self.done:
            return
        cued = self.recorder.now()
        with own_session(self.recorder) as session:
            for delay, digit in presses:
                if self.done.wait(max(0.0, cued + delay - self.recorder.now())):
                    return
                play_dtmf(session, leg[:-1] + "2", digit)     # the party's own half

    def _play_together(self, presses: dict[str, list[tuple[float, str]]]) -> None:
        try:
            legs = self.recorder.wait(lambda: self._all_cued(list(presses)), CUE_TIMEOUT_S,
                                      "every party pressing together to start WaitExten")
        except WaitTimeout:
            return
        if legs is self.done:
            return
        cued = self.recorder.now()
        for delay, digit in sorted({press for each in presses.values() for press in each}):
            if self.done.wait(max(0.0, cued + delay - self.recorder.now())):
                return
            press_together(self.recorder, [legs[n][:-1] + "2" for n in presses
                                           if (delay, digit) in presses[n]], digit)

    def _all_cued(self, numbers: list[str]):
        """Every number's outside leg once all started WaitExten; `done` as `_cue` says."""
        legs = {n: self._cue(n, "WaitExten") for n in numbers}
        if any(leg is self.done for leg in legs.values()):
            return self.done
        return legs if all(legs.values()) else None

    def _cue(self, number: str, application: str):
        """The outside leg of `number` once it started `application`; `done` when the block
        ended or the leg hung up first; None while neither."""
        if self.done.is_set():
            return self.done
        legs = [e["Channel"] for e in self.recorder.find("Newchannel", self.since)
                if e["Channel"].startswith(self.legs) and e["Channel"].endswith(";1")
                and e["Channel"].split("@")[0].endswith(number)]
        if not legs:
            return None
        if self.recorder.find("Hangup", self.since, Channel=legs[-1]):
            return self.done
        if self.recorder.find("Newexten", self.since, Channel=legs[-1], Application=application):
            return legs[-1]
        return None
