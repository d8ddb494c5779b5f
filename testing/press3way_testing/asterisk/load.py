"""Many agents' multi-calls at once on the one real Asterisk: a burst, or batches at a rate.

Each batch is an agent of its own (user, lead, session 8600100 + 10n with three conferences
of its own; any agent may take any free conference) seated with its customer in its session,
whose 3-way call is originated as VICIdial does. Its outside parties answer after 0.2-0.6 s;
two press 1 and one presses 5 the moment their prompts end (the outside leg starts
WaitExten), sent over a pool of AMI sessions; the rest never press. A batch is decided
correctly when exactly one of its calls is a Transfer, every call has ended with one
terminal event, and no live row is left.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

from press3way import events as ev
from press3way.store import Store
from press3way.telephony.ami import AMIClient
from press3way_testing.asterisk import manager, parties
from press3way_testing.asterisk.configs import AMI_SECRET, AMI_USER
from press3way_testing.asterisk.recorder import Event, Recorder
from press3way_testing.asterisk.scene import AGENT_LEG_PREFIX, DIAL_PREFIX, Scene
from press3way_testing.site import Site

FIRST_SESSION = 8_600_100          # [default] seats sessions 8600XXX, conferences 88600XXX
PRESSES = {0: "1", 1: "1", 2: "5"}  # party index -> the key it presses after the prompts
PRESS_SESSIONS = 32                # PlayDTMF holds its manager session for the key's length
SEAT_TIMEOUT_S = 60.0
END_TIMEOUT_S = 120.0               # 300 per-call AGI processes take a while to go


@dataclass(frozen=True)
class BurstBatch:
    """One agent and the numbers its multi-call dials."""
    site: Site
    numbers: tuple[str, ...]

    @property
    def agent_leg_prefix(self) -> str:
        return f"{AGENT_LEG_PREFIX}{DIAL_PREFIX}{self.numbers[0]}@"


@dataclass
class Outcome:
    """What one batch came to."""
    batch: BurstBatch
    correct: bool
    why: str = ""
    refused: bool = False            # load shedding: turned away before anyone was called
    press_to_bridge: float | None = None
    answer_to_prompt: list[float] = field(default_factory=list)


class Tally:
    """Events counted as they arrive: a wait's condition runs on every message, and
    rescanning every event each time would cost O(n^2) under load."""

    def __init__(self, recorder: Recorder, keep: Callable[[Event], bool]):
        self.recorder, self.keep = recorder, keep
        self.seen = len(recorder.events)
        self.count = 0

    def __call__(self) -> int:
        """How many kept events so far (call it under the recorder's lock: in a wait)."""
        new = self.recorder.events[self.seen:]
        self.seen += len(new)
        self.count += sum(1 for e in new if self.keep(e))
        return self.count


class Progress:
    """Which agent legs and outside legs are still up: neither hung up nor in a conference.
    A round is over when every agent leg is and no outside leg is left (a batch that failed
    early never starts all its calls, and each agent leg ends only after its calls are
    placed)."""

    def __init__(self, recorder: Recorder):
        self.up = {"agent": set(), "outside": set()}
        self.agents_ended = 0
        self._tally = Tally(recorder, self._note)

    def _note(self, e: Event) -> bool:
        channel, kind = e["Channel"], leg_kind(e["Channel"])
        if kind and e.name == "Newchannel":
            self.up[kind].add(channel)
        elif kind and e.name in ("Hangup", "ConfbridgeJoin") and channel in self.up[kind]:
            self.up[kind].discard(channel)
            self.agents_ended += kind == "agent"
        return False

    def over(self, agents: int) -> bool:
        """All `agents` agent legs ended and no outside leg up (in a wait's condition)."""
        self._tally()
        return self.agents_ended >= agents and not self.up["agent"] and not self.up["outside"]


def leg_kind(channel: str) -> str:
    """`agent` for the agent leg's AGI half, `outside` for an outside leg's, else ''."""
    if channel.startswith(AGENT_LEG_PREFIX) and channel.endswith(";2"):
        return "agent"
    if channel.startswith("Local/" + DIAL_PREFIX) and channel.endswith(";1"):
        return "outside"
    return ""


def batches(base: Site, count: int, calls: int) -> list[BurstBatch]:
    """`count` agents of `base`'s server, each with `calls` numbers of its own."""
    found = []
    for n in range(count):
        session = FIRST_SESSION + 10 * n
        site = replace(base, user=str(7000 + n), session=str(session), lead_id=2_000_000 + n,
                       conferences=(session + 1, session + 2, session + 3))
        found.append(BurstBatch(site, tuple(f"72{n:04d}55{k:02d}" for k in range(calls))))
    return found


# what the load reads (seat, Progress, Presser, judge) and Scene.end awaits
EVENTS = ("Newchannel", "Hangup", "Newexten", "DTMFEnd", "ConfbridgeJoin", "ConfbridgeLeave")


def arrange(scene: Scene, all_batches: list[BurstBatch]) -> None:
    """Every party's schedule in AstDB (answer after 0.2 s + 0.1 s per place; no press: the
    presses follow the prompts, see `Presser`); then the recorder takes only the events the
    load reads."""
    for batch in all_batches:
        parties.arrange(scene.rec, *(parties.Party(number, ring=0.2 + 0.1 * k)
                                     for k, number in enumerate(batch.numbers)))
    scene.rec.only(*EVENTS)


def seat(scene: Scene, all_batches: list[BurstBatch]) -> None:
    """Empty tables; every agent's rows, and its agent and customer in its session."""
    scene.begin()                      # the base site's own agent stays seated in 8600051
    sessions = {b.site.session for b in all_batches}
    joined = Tally(scene.rec, lambda e: e.name == "ConfbridgeJoin"
                   and e["Conference"] in sessions)
    for batch in all_batches:
        batch.site.add_agent()
        for who in ("agent", "customer"):
            channel_id = manager.unique_id(who)
            scene.rec.send("Originate", [("Channel", "Local/person@default"),
                                         ("Context", "default"), ("Exten", batch.site.session),
                                         ("Priority", "1"), ("CallerID", channel_id),
                                         ("Async", "true"), ("ChannelId", channel_id)])
    scene.rec.wait(lambda: joined() >= 2 * len(all_batches), SEAT_TIMEOUT_S,
                   "every agent and customer in their session")


def start(scene: Scene, all_batches: list[BurstBatch], stagger: float) -> None:
    """Arm each agent's numbers, then originate every 3-way call: back to back (stagger 0:
    the same instant, replies awaited afterwards) or batch n at n * stagger seconds."""
    with scene.site.connect() as conn:
        for batch in all_batches:
            Store(conn).arm_multi(batch.site.user, list(batch.numbers))
    began = time.monotonic()
    sent = []
    for n, batch in enumerate(all_batches):
        time.sleep(max(0.0, began + n * stagger - time.monotonic()))   # a schedule
        channel_id = manager.unique_id("threeway")
        sent.append(scene.rec.send("Originate", [
            ("Channel", f"Local/{batch.site.session}@default"), ("Context", "default"),
            ("Exten", f"49907{DIAL_PREFIX}{batch.numbers[0]}"), ("Priority", "1"),
            ("CallerID", f'"{batch.site.caller_code}" <7275550000>'), ("Async", "true"),
            ("ChannelId", channel_id)]))
    for action_id in sent:
        reply = scene.rec.reply(action_id, 10, "Originate")
        if reply.get("Response") != "Success":
            raise RuntimeError(f"Originate refused: {reply.get('Message')}")


class Presser:
    """Presses each pressing party's key the moment its outside leg starts WaitExten."""

    def __init__(self, recorder: Recorder, all_batches: list[BurstBatch]):
        self.recorder = recorder
        self.keys = {b.numbers[k]: key for b in all_batches for k, key in PRESSES.items()
                     if k < len(b.numbers)}
        self._seen = 0
        self._pressed: set[str] = set()
        self._local = threading.local()
        self._sessions: list[AMIClient] = []
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(PRESS_SESSIONS)
        self.failures: list[str] = []

    def due(self) -> list[tuple[str, str]]:
        """(party channel, key) of every pressing leg that reached WaitExten since last time
        (called under the recorder's lock, on every message)."""
        events, found = self.recorder.events, []
        for e in events[self._seen:]:
            if e.name == "Newexten" and e["Application"] == "WaitExten":
                number = e["Channel"].split("@")[0][len("Local/" + DIAL_PREFIX):]
                if number in self.keys and e["Channel"] not in self._pressed:
                    self._pressed.add(e["Channel"])
                    found.append((e["Channel"][:-1] + "2", self.keys[number]))
        self._seen = len(events)
        return found

    def press(self, channel: str, key: str) -> None:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = AMIClient(self.recorder.host, self.recorder.port,
                                                      timeout=10).connect()
            session.request("Login", [("Username", AMI_USER), ("Secret", AMI_SECRET),
                                      ("Events", "off")])
            with self._lock:
                self._sessions.append(session)
        reply = session.request("PlayDTMF", [("Channel", channel), ("Digit", key),
                                             ("Duration", str(parties.PRESS_MS))])
        if reply.get("Response") != "Success":
            with self._lock:
                self.failures.append(f"{channel}: {reply.get('Message')}")

    def run_until(self, done: threading.Event) -> None:
        """Press as legs become due until `done` (the round has settled)."""
        while not done.is_set():
            try:
                due = self.recorder.wait(lambda: self.due() or done.is_set(), 1.0, "a press")
            except AssertionError:       # nothing due this second: look again
                continue
            if due is not True:
                for channel, key in due:
                    self.pool.submit(self.press, channel, key)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for session in self._sessions:
            session.logoff()


@dataclass
class Round:
    """One burst or one rate of a ramp: every batch's outcome."""
    outcomes: list[Outcome]
    took: float                      # first originate -> every leg over
    unfinished: str = ""             # why the round did not end in time ('' when it did)
    press_failures: list[str] = field(default_factory=list)

    @property
    def wrong(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct and not o.refused]

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.refused]

    @property
    def press_to_bridge(self) -> list[float]:
        return [o.press_to_bridge for o in self.outcomes if o.press_to_bridge is not None]

    @property
    def answer_to_prompt(self) -> list[float]:
        return [t for o in self.outcomes for t in o.answer_to_prompt]


def play(scene: Scene, all_batches: list[BurstBatch], stagger: float = 0.0,
         timeout: float = 120.0) -> Round:
    """Seat every agent, start every batch (`stagger` apart), press, await the end of every
    leg, judge each batch; the scene ended (every channel gone) afterwards."""
    seat(scene, all_batches)
    progress, presser = Progress(scene.rec), Presser(scene.rec, all_batches)
    done = threading.Event()
    pressing = threading.Thread(target=presser.run_until, args=(done,), daemon=True)
    since = scene.rec.now()
    pressing.start()
    unfinished = ""
    try:
        start(scene, all_batches, stagger)
        scene.rec.wait(lambda: progress.over(len(all_batches)), timeout,
                       "every leg of every batch to be over")
    except AssertionError as exc:      # WaitTimeout: judged as it stands
        unfinished = str(exc)
    finally:
        took = scene.rec.now() - since
        done.set()
        pressing.join(5)
        presser.close()
    outcomes = judge(scene, all_batches, since)
    scene.end(END_TIMEOUT_S)
    return Round(outcomes, took, unfinished, presser.failures)


@dataclass
class _Seen:
    """One pass over the round's events: what each channel did first."""
    channels: list[str] = field(default_factory=list)
    first: dict[tuple[str, str], float] = field(default_factory=dict)  # (channel, what) -> at
    joins: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    presses: dict[str, list[float]] = field(default_factory=dict)   # channel -> its 1s

    def note(self, e: Event) -> None:
        channel = e["Channel"]
        what = {"Newexten": e["Application"], "DTMFEnd": "DTMF " + e["Digit"]}.get(e.name)
        if e.name == "Newchannel":
            self.channels.append(channel)
        elif e.name == "ConfbridgeJoin":
            self.joins.setdefault(channel, []).append((e["Conference"], e.at))
        elif what is not None:
            self.first.setdefault((channel, what), e.at)
            if what == "DTMF 1":
                self.presses.setdefault(channel, []).append(e.at)

    def channel(self, prefix: str, half: str) -> str:
        return next((c for c in self.channels if c.startswith(prefix) and c.endswith(half)), "")


def judge(scene: Scene, all_batches: list[BurstBatch], since: float) -> list[Outcome]:
    """Every batch's outcome, from the round's events and the tables."""
    seen = _Seen()
    for e in scene.rec.events_since(since):
        seen.note(e)
    log = _by_caller_code(scene, "vicidial_3way_press_log")
    live = _by_caller_code(scene, "vicidial_3way_press_live")
    refused = _refused(scene.agi_log() + "".join(line + "\n" for line in scene.fastagi_log()))
    outcomes = []
    for b in all_batches:
        rows, left = log.get(b.site.caller_code, []), live.get(b.site.caller_code, [])
        if not rows and not left and b.site.caller_code in refused:
            outcomes.append(Outcome(b, False, "refused: server overloaded", refused=True))
        else:
            outcomes.append(_outcome(b, seen, rows, left))
    return outcomes


def _refused(agi_log: str) -> set[str]:
    """The caller codes whose agent leg logged that the server was overloaded."""
    return {line.split("|")[3] for line in agi_log.splitlines()
            if "server overloaded" in line and len(line.split("|")) > 4}


def _by_caller_code(scene: Scene, table: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for row in scene.rows(table):
        found.setdefault(row["caller_code"], []).append(row)
    return found


def _outcome(batch: BurstBatch, seen: _Seen, rows: list[dict], live: list[dict]) -> Outcome:
    outcome = Outcome(batch, False)
    legs = {n: seen.channel(f"Local/{DIAL_PREFIX}{n}@", ";1") for n in batch.numbers}
    for leg in legs.values():
        answered = seen.first.get((leg[:-1] + "2", "Answer"))
        prompted = seen.first.get((leg, "BackGround"))
        if leg and answered is not None and prompted is not None:
            outcome.answer_to_prompt.append(prompted - answered)
    ends = [ev.terminal_event(r["result"]) for r in rows]
    winners = [r["phone_number"] for r in rows if ev.terminal_event(r["result"]) == ev.TRANSFER]
    if live or len(rows) != len(batch.numbers) or None in ends or len(winners) != 1:
        outcome.why = f"{len(live)} live rows; ends {ends}"
        return outcome
    leg = legs[winners[0]]
    agent = seen.channel(batch.agent_leg_prefix, ";2")
    rooms = {room: at for room, at in seen.joins.get(leg, [])}
    agent_in = [at for room, at in seen.joins.get(agent, []) if room in rooms]
    if not agent_in:
        outcome.why = f"{winners[0]} won but was not bridged with the agent leg"
        return outcome
    # Timed on the channels' own events only: AMI delivers a channel's events (its DTMF, its
    # dialplan steps) by a path of their own, which falls behind the bridges' under load (a
    # burst here: a ConfbridgeJoin read 0.5 s before the DTMFEnd of the press that led to it,
    # 1.45 s before the same channel's Newexten into ConfBridge). The bridge: the later of the
    # two legs' steps into ConfBridge.
    entered = [seen.first.get((channel, "ConfBridge")) for channel in (leg, agent)]
    if None in entered:
        outcome.why = f"{winners[0]}: a leg joined the room unseen entering ConfBridge"
        return outcome
    bridged = max(at for at in entered if at is not None)
    # the press that won: the last 1 before the bridge (an overloaded party may press again)
    pressed = max((at for at in seen.presses.get(leg, []) if at <= bridged), default=None)
    if pressed is None:
        outcome.why = f"{winners[0]} was bridged before any press of 1 was seen"
        return outcome
    outcome.correct = True
    outcome.press_to_bridge = bridged - pressed
    return outcome


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    """`median X s, p95 Y s (n=N)`."""
    if not values:
        return "no figures"
    return (f"median {statistics.median(values):.3f} s, p95 {p95(values):.3f} s "
            f"(n={len(values)})")
