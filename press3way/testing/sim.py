"""Whole 3-way press-1 calls without Asterisk.

Runs our own extensions_custom.conf: the agent leg enters at its `_49907.` extension (through
the ${TRUNKloop} loop), each AMI Originate the agent leg sends becomes an outside channel that
rings, answers, hears the prompts, presses keys or hangs up as its `Party` says, and every
AGI(...) step runs the real script through the fake-AGI harness against a real database.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..db import LIVE, LOG, Store, query
from .channel import SimChannel
from .dialplan import Dialplan, Step
from .fakeagi import FakeAGI, parse_press
from .fakeami import FakeAMI, Originate, channel_matches
from .fastagi import FastAGIServer
from .site import Site

ALL_DIGITS = "0123456789*#"
# Channel names are unique across simulations sharing one fake Asterisk, as in a real one.
_CHANNEL_SERIAL = itertools.count(1)
OUTSIDE_CONTEXT = "xfer_press_dialplan"


@dataclass
class Party:
    """An outside party; times are seconds after its phone starts ringing."""
    number: str
    answer: float | None = 0.5          # None: never answers (the dial timeout runs out)
    presses: list[tuple[float, str]] = field(default_factory=list)
    # (delay, digit): pressed this long after the prompts end ("press 1 now"), however late
    # the prompts came: what a person does, and steady under load.
    after_prompt: list[tuple[float, str]] = field(default_factory=list)
    hangup: float | None = None
    busy: bool = False


def parse_party(text: str) -> Party:
    """`7275551212:answer=0.5,press=1@1.2,hangup=6`, `...:answer=0.3,press=1@prompt+0.2`,
    `7275551213:noanswer`, `...:busy`."""
    number, _, spec = text.partition(":")
    if not number.isdigit():
        raise ValueError(f"{text!r}: a party starts with its phone number")
    party = Party(number.strip())
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, _, value = item.partition("=")
        if key == "answer":
            party.answer = float(value)
        elif key == "press" and "@prompt+" in value:
            digit, _, delay = value.partition("@prompt+")
            party.after_prompt.append(parse_press(f"{digit}@{delay}"))
        elif key == "press":
            party.presses.append(parse_press(value))
        elif key == "hangup":
            party.hangup = float(value)
        elif key == "noanswer":
            party.answer = None
        elif key == "busy":
            party.busy = True
        else:
            raise ValueError(f"{item!r}: expected answer=S, press=D@S, press=D@prompt+S, "
                             "hangup=S, noanswer or busy")
    return party


@dataclass
class Timeouts:
    """The dialplan's knobs (seconds); the simulator writes them into the dialplan it loads."""
    agent: int = 50
    dial: int = 30
    press: int = 20
    accept: int = 10

    def apply(self, text: str) -> str:
        text = re.sub(r"start---\d+---\d+", f"start---{self.agent}---{self.dial}", text)
        text = re.sub(r"WaitExten\(\d+\)", f"WaitExten({self.press})", text)
        return re.sub(r"accepted---\d+", f"accepted---{self.accept}", text)


@dataclass
class SimCall:
    label: str
    channel: SimChannel
    caller_name: str
    caller_number: str
    call_id: str = ""
    channel_id: str = ""           # the ChannelId the agent leg set at originate
    after_prompt: list[tuple[float, str]] = field(default_factory=list)
    ended: str = ""


@dataclass
class AGIRun:
    label: str                        # which channel
    args: str                         # e.g. agi-3way_press_outside.agi,answered
    commands: int
    exit_code: int | None


@dataclass
class SimResult:
    timeline: list[tuple[float, str, str]]
    calls: dict[str, str]             # label -> where the channel ended
    log_rows: list[dict]
    live_rows: int                    # this agent's live rows left
    agi_runs: list[AGIRun]

    def format(self) -> str:
        lines = ["Timeline (seconds):"]
        lines += [f"{t:8.3f}  {who:<12} {text}" for t, who, text in sorted(self.timeline, key=lambda e: e[0])]
        lines.append("\nWhere each channel ended:")
        lines += [f"  {label:<12} {end}" for label, end in self.calls.items()]
        lines.append("\nvicidial_3way_press_log rows of the batch:")
        for row in self.log_rows:
            lines.append(f"  {row['call_3way_id']}  {row['phone_number']}  "
                         f"transfer={row['call_transfer']}  {row['result']}")
        lines.append(f"\nlive rows left: {self.live_rows}")
        return "\n".join(lines)


class Simulation:
    def __init__(self, site: Site, conf_path: str, parties: list[Party], *,
                 dialplan_text: str, timeouts: Timeouts | None = None,
                 dialstring: str | None = None, agent_hangup: float | None = None,
                 sound_scale: float = 1.0, agi_dir: str | None = None,
                 conf_engine: str = "MEETME", ami_users: dict[str, str] | None = None,
                 ami_up: bool = True, ami_close_on: str | None = None,
                 ami: FakeAMI | None = None, reset: bool = True,
                 prepare: Callable[[Site], None] | None = None,
                 hangup_at_command: tuple[str, int, int] | None = None,
                 out: Callable[[str], None] | None = None,
                 fastagi: FastAGIServer | None = None):
        """`ami`: a shared FakeAMI whose originates the caller routes to `originated` (load
        runs, with `reset=False` so agents share one site database); `hangup_at_command`:
        (channel label, its Nth AGI run, command number) where that channel hangs up;
        `fastagi`: every AGI step calls this server instead of starting the script."""
        self.site, self.conf_path, self.parties = site, conf_path, {p.number: p for p in parties}
        self.dialplan = Dialplan((timeouts or Timeouts()).apply(dialplan_text))
        first = parties[0].number if parties else "7275551212"
        self.extension = "49907" + (dialstring or f"91{first}")
        self.agent_hangup, self.sound_scale = agent_hangup, sound_scale
        self.agi_dir = agi_dir or os.path.dirname(sys.executable)
        self.conf_engine, self.ami_users, self.ami_up, self.out = conf_engine, ami_users, ami_up, out
        self.prepare = prepare          # changes the site after its reset (fill conferences...)
        self.ami_close_on, self.shared_ami, self.reset = ami_close_on, ami, reset
        self.hangup_at_command = hangup_at_command
        self.fastagi = fastagi
        self.agi_runs: list[AGIRun] = []
        self.t0 = time.monotonic()
        self.timeline: list[tuple[float, str, str]] = []
        self.calls: dict[str, SimCall] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # --- the run ------------------------------------------------------------------------
    def run(self) -> SimResult:
        with contextlib.ExitStack() as stack:
            ami = self.shared_ami or stack.enter_context(FakeAMI(
                users=self.ami_users, on_originate=self.originated, on_hangup=self.ami_hangup,
                close_on_action=self.ami_close_on))
            if self.reset:
                port = ami.port if self.ami_up else _closed_port()
                self.site.reset(ami_port=port, conf_engine=self.conf_engine)
            if self.prepare:
                self.prepare(self.site)
            self.t0 = time.monotonic()
            if len(self.parties) > 1:
                Store(self.site.connect()).arm_multi(self.site.user, list(self.parties))
                self.note("agent API", f"multi_dial_phones={','.join(self.parties)}")
            agent = SimCall("agent", self._channel(f"Local/{self.site.session}@default-"
                                                   f"{next(_CHANNEL_SERIAL):08x};2",
                                                   hangup_at=self.agent_hangup),
                            self.site.caller_code, "7275550000")
            self.calls["agent"] = agent
            self.run_dialplan(agent, "default", self.extension)
            for thread in list(self._threads):
                thread.join(timeout=120)
        conn = self.site.connect()
        rows = query(conn, f"SELECT * FROM {LOG} WHERE caller_code = %s ORDER BY call_3way_id",
                     (self.site.caller_code,))
        live = query(conn, f"SELECT COUNT(*) AS n FROM {LIVE} WHERE caller_code = %s",
                     (self.site.caller_code,))[0]["n"]
        conn.close()
        return SimResult(self.timeline, {c.label: c.ended for c in self.calls.values()}, rows,
                         live, self.agi_runs)

    def note(self, who: str, text: str) -> None:
        t = round(time.monotonic() - self.t0, 3)
        with self._lock:
            self.timeline.append((t, who, text))
        if self.out:
            self.out(f"{t:8.3f}  {who:<12} {text}")

    def _channel(self, name: str, **kw) -> SimChannel:
        return SimChannel(name, sound_scale=self.sound_scale, t0=self.t0, **kw)

    # --- outside calls (AMI Originate) ----------------------------------------------------
    def originated(self, originate: Originate) -> None:
        thread = threading.Thread(target=self._ring, args=(originate,), daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _ring(self, originate: Originate) -> None:
        f = originate.fields
        dialstring = f.get("Channel", "").split("/", 1)[-1].split("@", 1)[0]
        number = dialstring[-10:]
        party = self.parties.get(number, Party(number, answer=None))
        started = time.monotonic() - self.t0
        name_match = re.match(r'"?([^"<]*)"?\s*<([^>]*)>', f.get("CallerID", ""))
        caller_name, caller_number = (name_match.group(1).strip(), name_match.group(2)) \
            if name_match else ("", "")
        variables = {k.lstrip("_"): v for k, v in originate.variables.items()}
        channel = self._channel(
            f"Local/{dialstring}@default-{next(_CHANNEL_SERIAL):08x};1", variables=variables,
            presses=[(started + t, d) for t, d in party.presses],
            hangup_at=None if party.hangup is None else started + party.hangup)
        call = SimCall(number, channel, caller_name, caller_number,
                       variables.get("call_3way_id", ""), f.get("ChannelId", ""),
                       list(party.after_prompt))
        with self._lock:
            self.calls[number] = call
        self.note(number, f"ringing ({f.get('Channel')}, caller id {f.get('CallerID')})")
        dial_timeout = int(f.get("Timeout", "30000")) / 1000
        if party.busy:
            channel.hungup.wait(0.1)
            self._fail(call, originate, "5", "busy")
            return
        ring_for = dial_timeout if party.answer is None else min(party.answer, dial_timeout)
        if channel.hungup.wait(ring_for):
            self._fail(call, originate, "1", "hung up while ringing (AMI Hangup)")
            return
        if party.answer is None or party.answer > dial_timeout:
            self._fail(call, originate, "3", "no answer")
            return
        self.note(number, "answered")
        originate.respond(True, channel.name)
        self.run_dialplan(call, f.get("Context", OUTSIDE_CONTEXT), f.get("Exten", "s"),
                          int(f.get("Priority", "1")))

    def _fail(self, call: SimCall, originate: Originate, reason: str, why: str) -> None:
        call.channel.hang_up(why)
        call.ended = why
        self.note(call.label, why)
        originate.respond(False, "", reason)

    def ami_hangup(self, target: str) -> bool:
        with self._lock:
            found = [c for c in self.calls.values()
                     if channel_matches(target, c.channel.name, c.channel_id)]
        for call in found:
            self.note(call.label, f"AMI Hangup {target}")
            call.channel.hang_up("AMI Hangup")
        return bool(found)

    # --- the dialplan -------------------------------------------------------------------
    def run_dialplan(self, call: SimCall, context: str, exten: str, priority: int = 1) -> None:
        entry = self.dialplan.find(context, exten)
        while True:
            if call.channel.is_hung_up():
                return self._hung_up(call, context, exten)
            step = self.dialplan.step(context, entry, priority) if entry else None
            if step is None:
                if entry is None and re.fullmatch(r"[78]\d+", exten):
                    call.ended = f"in conference {exten[1:]} ({context},{exten})"
                    self.note(call.label, f"joined conference {exten[1:]} via {context},{exten}")
                    return None
                self.note(call.label, f"no {context},{exten},{priority}: hang up")
                call.channel.hang_up("end of dialplan")
                return self._hung_up(call, context, exten)
            outcome = self._execute(call, step, exten)
            if outcome is None:
                priority += 1
            elif outcome == "hangup":
                return self._hung_up(call, context, exten)
            elif outcome == "left":
                return None
            else:
                context, exten, priority = outcome
                entry = self.dialplan.find(context, exten)

    def _hung_up(self, call: SimCall, context: str, exten: str) -> None:
        if not call.ended:
            call.ended = f"hung up ({call.channel.hangup_cause}) at {context},{exten}"
        self.note(call.label, f"hung up ({call.channel.hangup_cause})")
        h = self.dialplan.step(context, "h", 1) if self.dialplan.find(context, "h") else None
        while h is not None:
            if h.app.upper() == "AGI":
                self._agi(call, h, "h", dead=True)
            h = self.dialplan.step(context, "h", h.priority + 1)

    def _execute(self, call: SimCall, step: Step, exten: str):
        app, args = step.app.lower(), self._substitute(call, step.args, exten)
        self.note(call.label, f"{step.context},{exten},{step.priority} {step.app}({args})")
        channel = call.channel
        if app in ("answer", "noop"):
            return None
        if app == "hangup":
            channel.hang_up("Hangup()")
            return "hangup"
        if app in ("playback", "background", "waitexten"):
            if app == "waitexten":
                for delay, digit in call.after_prompt:
                    channel.press_later(delay, digit)
                call.after_prompt = []
            digits = "" if app == "playback" else ALL_DIGITS
            seconds = float(args or 0) if app == "waitexten" else channel.sound_seconds(args)
            what, digit = channel.pause(seconds, digits)
            if what == "hangup":
                return "hangup"
            if what == "digit":
                self.note(call.label, f"pressed {digit}")
                target = digit if self.dialplan.find(step.context, digit) else "i"
                return step.context, target, 1
            if app == "waitexten":
                return step.context, "t", 1
            return None
        if app == "goto":
            parts = [p.strip() for p in args.split(",")]
            return parts[0], parts[1], int(parts[2]) if len(parts) > 2 else 1
        if app == "dial" and args.startswith("TRUNKloop/"):
            # the loop trunk dials back into this same dialplan: follow it on this channel
            target = args.split("/", 1)[1].split(",", 1)[0]
            self.run_dialplan(call, step.context, target)
            return "left"
        if app == "agi":
            return self._agi(call, step, exten, dead=False)
        return None

    def _agi(self, call: SimCall, step: Step, exten: str, *, dead: bool):
        script, _, args = step.args.partition(",")
        script = script.rsplit("/", 1)[-1]          # agi://host:port/script: the same script
        env = {"agi_callerid": call.caller_number, "agi_calleridname": call.caller_name}
        with self._lock:
            nth = 1 + sum(1 for r in self.agi_runs if r.label == call.label)
            record = AGIRun(call.label, step.args, 0, None)
            self.agi_runs.append(record)
        target = self.hangup_at_command
        hangup_on = target[2] if target and target[:2] == (call.label, nth) else None
        run = FakeAGI(os.path.join(self.agi_dir, script), call.channel,
                      [a for a in args.split(",") if a], env=env, context=step.context,
                      extension=exten, priority=step.priority, dead=dead,
                      interpreter=sys.executable,
                      process_env=dict(os.environ, PRESS3WAY_CONF=self.conf_path),
                      observer=lambda way, text: self.note(call.label, f"  AGI {way} {text}"),
                      hangup_on_command=hangup_on, server=self.fastagi)
        result = run.run(timeout=300)
        record.commands, record.exit_code = len(result.commands), result.exit_code
        if result.exit_code != 0 or (result.stderr and "ERROR" in result.stderr):
            for line in result.stderr.strip().splitlines()[-3:]:
                self.note(call.label, f"  AGI log: {line}")
        if dead:
            return None
        if result.hung_up:
            return "hangup"
        if (result.context, result.extension, result.priority) != (step.context, exten, step.priority):
            return result.context, result.extension, result.priority
        return None

    @staticmethod
    def _substitute(call: SimCall, text: str, exten: str) -> str:
        def value(m: re.Match) -> str:
            name = m.group(1)
            if name == "EXTEN":
                return exten
            if name.startswith("EXTEN:"):
                return exten[int(name[6:]):]
            if name == "CALLERID(name)":
                return call.caller_name
            if name == "TRUNKloop":
                return "TRUNKloop"
            return call.channel.variables.get(name, "")
        return re.sub(r"\$\{([^}]+)\}", value, text)


def _closed_port() -> int:
    """A loopback port nobody listens on (AMI unreachable)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
