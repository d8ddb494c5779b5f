"""Whole 3-way press-1 calls without Asterisk.

Runs our own extensions_custom.conf: the agent leg enters at its `_49907.` extension (through
the ${TRUNKloop} loop), each AMI Originate the agent leg sends becomes an outside channel that
rings, answers, hears the prompts, presses keys or hangs up as its `Party` says, and every
AGI(...) step runs the real script through the fake-AGI harness against a real database.
It follows a real Asterisk's rules (docs/behaviour.md, "The dialplan"): WaitExten, which digits are
kept or thrown away, real sound lengths, every manager event to every session; where it still
differs: docs/testing.md, "Where they still differ from a real Asterisk".
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

from press3way.database import query
from press3way.store import Store
from press3way.tables import LIVE, LOG
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.site import Site
from press3way_testing.standins import sounds
from press3way_testing.standins.channel import ALL_DIGITS, SimChannel, new_uniqueid
from press3way_testing.standins.dialplan_model import Dialplan, Step
from press3way_testing.standins.fakeagi import FakeAGI, parse_press, split_arguments
from press3way_testing.standins.fakeami import FakeAMI, Originate, channel_matches

# Asterisk's TIMEOUT(digit): how long it waits for a further digit that could extend the
# extension dialled so far.
DIGIT_TIMEOUT_S = 5.0
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
    # (delay, digit): pressed this long after the prompts start (while they play)
    during_prompt: list[tuple[float, str]] = field(default_factory=list)
    # (delay, digit): pressed this long after every party pressing `together` has heard the
    # prompts end, all at the same moment (a race of presses)
    together: list[tuple[float, str]] = field(default_factory=list)
    hangup: float | None = None
    busy: bool = False


def parse_party(text: str) -> Party:
    """`7275551212:answer=0.5,press=1@1.2,hangup=6`, `...:answer=0.3,press=1@prompt+0.2`
    (after the prompts end), `...:press=1@prompt_start+0.8` (while they play),
    `...:press=1@together+0.1` (with the other parties that press together, once all of them
    heard the prompts end), `7275551213:noanswer`, `...:busy`."""
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
        elif key == "press" and "@prompt_start+" in value:
            digit, _, delay = value.partition("@prompt_start+")
            party.during_prompt.append(parse_press(f"{digit}@{delay}"))
        elif key == "press" and "@together+" in value:
            digit, _, delay = value.partition("@together+")
            party.together.append(parse_press(f"{digit}@{delay}"))
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
                             "press=D@prompt_start+S, press=D@together+S, hangup=S, noanswer "
                             "or busy")
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
    channel: SimChannel               # the half that runs the dialplan
    caller_name: str
    caller_number: str
    call_id: str = ""
    other_name: str = ""              # a Local channel's other half (hung up with it)
    other_uniqueid: str = ""
    after_prompt: list[tuple[float, str]] = field(default_factory=list)
    during_prompt: list[tuple[float, str]] = field(default_factory=list)
    together: list[tuple[float, str]] = field(default_factory=list)
    answered: bool = False
    ended: str = ""

    def known_as(self, target: str) -> bool:
        """Does AMI's `Channel:` (name, uniqueid or /regex/) name this call?"""
        return channel_matches(target, (self.channel.name, self.other_name),
                               (self.channel.uniqueid, self.other_uniqueid))


@dataclass
class AGIRun:
    label: str                        # which channel
    args: str                         # e.g. agi-3way_press_outside.agi,answered
    commands: int
    exit_code: int | None
    ended: float = 0.0                # when the script exited (seconds since the start)


@dataclass
class SimResult:
    timeline: list[tuple[float, str, str]]
    calls: dict[str, str]             # label -> where the channel ended
    log_rows: list[dict]
    live_rows: int                    # this agent's live rows left
    agi_runs: list[AGIRun]

    def format(self) -> str:
        lines = ["Timeline (seconds):"]
        lines += [f"{t:8.3f}  {who:<12} {text}"
                  for t, who, text in sorted(self.timeline, key=lambda e: e[0])]
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
                 conf_engine: str = "MEETME", ami_close_on: str | None = None,
                 ami: FakeAMI | None = None, reset: bool = True,
                 prepare: Callable[[Site], None] | None = None,
                 hangup_at_command: tuple[str, int, int] | None = None,
                 out: Callable[[str], None] | None = None,
                 fastagi: FastAGIServer | None = None, channel_created_after: float = 0.0):
        """`ami`: the shared FakeAMI of this simulation's Asterisk server, whose actions the
        caller routes to `originated`/`ami_hangup`/`ami_redirect`/`ami_control_playback`
        (load and cluster runs, with `reset=False` so agents share one site database);
        `sound_scale`: every sound's length times this (1.0: the real lengths);
        `hangup_at_command`: (channel label, its Nth AGI run, command number) where that
        channel hangs up; `fastagi`: every AGI step calls this server instead of starting
        the script; `channel_created_after`: how long an async Originate takes to make its
        channel (a busy Asterisk: a Hangup before then finds no such channel)."""
        self.site, self.conf_path, self.parties = site, conf_path, {p.number: p for p in parties}
        self.dialplan = Dialplan((timeouts or Timeouts()).apply(dialplan_text))
        first = parties[0].number if parties else "7275551212"
        self.extension = "49907" + (dialstring or f"91{first}")
        self.agent_hangup, self.sound_scale = agent_hangup, sound_scale
        self.agi_dir = agi_dir or os.path.dirname(sys.executable)
        self.conf_engine, self.out = conf_engine, out
        self.prepare = prepare          # changes the site after its reset (fill conferences...)
        self.ami_close_on, self.shared_ami, self.reset = ami_close_on, ami, reset
        self.ami: FakeAMI | None = ami
        self.hangup_at_command = hangup_at_command
        self.fastagi = fastagi
        self.channel_created_after = channel_created_after
        self.agi_runs: list[AGIRun] = []
        self.t0 = time.monotonic()
        self.timeline: list[tuple[float, str, str]] = []
        self.calls: dict[str, SimCall] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pressing_together = sum(1 for p in parties if p.together)
        self._heard_the_prompts: list[SimCall] = []

    # --- the run ------------------------------------------------------------------------
    def run(self) -> SimResult:
        with contextlib.ExitStack() as stack:
            self.ami = self.shared_ami or stack.enter_context(FakeAMI(
                on_originate=self.originated, on_hangup=self.ami_hangup,
                on_redirect=self.ami_redirect, on_control_playback=self.ami_control_playback,
                close_on_action=self.ami_close_on))
            if self.reset:
                self.site.reset(ami_port=self.ami.port, conf_engine=self.conf_engine)
            if self.prepare:
                self.prepare(self.site)
            self.t0 = time.monotonic()
            if len(self.parties) > 1:
                Store(self.site.connect()).arm_multi(self.site.user, list(self.parties))
                self.note("agent API", f"multi_dial_phones={','.join(self.parties)}")
            serial = next(_CHANNEL_SERIAL)
            agent = SimCall("agent", self._channel("agent", f"Local/{self.site.session}@default-"
                                                   f"{serial:08x};2", hangup_at=self.agent_hangup),
                            self.site.caller_code, "7275550000",
                            other_name=f"Local/{self.site.session}@default-{serial:08x};1",
                            other_uniqueid=new_uniqueid(), answered=True)
            self._add(agent)
            self.run_dialplan(agent, "default", self.extension)
            for thread in list(self._threads):
                thread.join(timeout=120)
            for call in list(self.calls.values()):   # e.g. a hang-up due after the transfer
                call.channel.cancel_schedule()
        self.ended()
        conn = self.site.connect()
        rows = query(conn, f"SELECT * FROM {LOG} WHERE caller_code = %s ORDER BY call_3way_id",
                     (self.site.caller_code,))
        live = query(conn, f"SELECT COUNT(*) AS n FROM {LIVE} WHERE caller_code = %s",
                     (self.site.caller_code,))[0]["n"]
        conn.close()
        return SimResult(self.timeline, {c.label: c.ended for c in self.calls.values()}, rows,
                         live, self.agi_runs)

    def ended(self) -> None:
        """Every channel and AGI run has ended; the rows are read next. A hook: the fault
        sweep lets go of the table lock it holds here instead of waiting out its hold."""

    def note(self, who: str, text: str) -> None:
        t = round(time.monotonic() - self.t0, 3)
        with self._lock:
            self.timeline.append((t, who, text))
        if self.out:
            self.out(f"{t:8.3f}  {who:<12} {text}")

    def _channel(self, label: str, name: str, **kw) -> SimChannel:
        channel = SimChannel(name, sound_scale=self.sound_scale, t0=self.t0, **kw)
        channel.observer = lambda *what: self._channel_event(label, channel, *what)
        return channel

    def _add(self, call: SimCall) -> None:
        with self._lock:
            self.calls[call.label] = call
        for name, uid in ((call.channel.name, call.channel.uniqueid),
                          (call.other_name, call.other_uniqueid)):
            self._publish("Newchannel", "call", name, uid, call,
                          [("ChannelState", "4" if call.answered else "0"),
                           ("ChannelStateDesc", "Ring")])

    def _publish(self, event: str, event_class: str, name: str, uid: str, call: SimCall,
                 extra: list[tuple[str, str]]) -> None:
        """An event of this server's Asterisk, to every manager session that takes it."""
        if self.ami is not None:
            self.ami.publish(event, event_class, [
                ("Channel", name), ("CallerIDNum", call.caller_number),
                ("CallerIDName", call.caller_name), ("Uniqueid", uid),
                ("Linkedid", call.channel.uniqueid)] + extra)

    def _channel_event(self, label: str, channel: SimChannel, kind: str, *details: str) -> None:
        call = self.calls.get(label)
        if kind == "dtmf":
            digit, fate = details
            self.note(label, f"pressed {digit}" + (" (thrown away)" if fate != "kept" else ""))
            if call is not None:
                for event in ("DTMFBegin", "DTMFEnd"):
                    self._publish(event, "dtmf", channel.name, channel.uniqueid, call,
                                  [("Digit", digit), ("Direction", "Received")])
        elif kind == "hangup" and call is not None:
            for name, uid in ((channel.name, channel.uniqueid),
                              (call.other_name, call.other_uniqueid)):
                self._publish("Hangup", "call", name, uid, call,
                              [("Cause", "16"), ("Cause-txt", details[0])])

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
        base = f"Local/{dialstring}@default-{next(_CHANNEL_SERIAL):08x}"
        channel = self._channel(
            number, base + ";1", variables=variables, uniqueid=originate.uniqueid,
            presses=[(started + t, d) for t, d in party.presses],
            hangup_at=None if party.hangup is None else started + party.hangup)
        call = SimCall(number, channel, caller_name, caller_number,
                       variables.get("call_3way_id", ""), base + ";2", originate.other_uniqueid,
                       list(party.after_prompt), list(party.during_prompt), list(party.together))
        time.sleep(self.channel_created_after)     # Asterisk's originate thread, not yet run
        self._add(call)
        self.note(number, f"ringing ({f.get('Channel')}, caller id {f.get('CallerID')}, "
                          f"uniqueid {channel.uniqueid})")
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
        call.answered = True
        self.note(number, "answered")
        self._publish("Newstate", "call", channel.name, channel.uniqueid, call,
                      [("ChannelState", "6"), ("ChannelStateDesc", "Up")])
        originate.respond(True, channel.name)
        self.run_dialplan(call, f.get("Context", OUTSIDE_CONTEXT), f.get("Exten", "s"),
                          int(f.get("Priority", "1")))

    def _fail(self, call: SimCall, originate: Originate, reason: str, why: str) -> None:
        call.channel.hang_up(why)
        call.ended = why
        self.note(call.label, why)
        originate.respond(False, "", reason)

    # --- AMI actions on channels ----------------------------------------------------------
    def _named(self, target: str) -> list[SimCall]:
        with self._lock:
            return [c for c in self.calls.values()
                    if not c.channel.is_hung_up() and c.known_as(target)]

    def ami_hangup(self, target: str) -> bool:
        found = self._named(target)
        for call in found:
            self.note(call.label, f"AMI Hangup {target}")
            call.channel.hang_up("AMI Hangup")
        return bool(found)

    def ami_redirect(self, target: str, context: str, exten: str, priority: int) -> bool:
        """Only a channel running the dialplan can be redirected here (not a ringing one)."""
        found = [c for c in self._named(target) if c.answered]
        for call in found:
            self.note(call.label, f"AMI Redirect {target} to {context},{exten},{priority}")
            call.channel.redirect(context, exten, priority)
        return bool(found)

    def ami_control_playback(self, target: str, control: str) -> bool:
        found = self._named(target)
        for call in found:
            stopped = control == "stop" and call.channel.stop_playback()
            self.note(call.label, f"AMI ControlPlayback {control}"
                                  + (" (stopped the sound)" if stopped else " (nothing stopped)"))
        return bool(found)

    # --- the dialplan -------------------------------------------------------------------
    def run_dialplan(self, call: SimCall, context: str, exten: str, priority: int = 1) -> None:
        entry = self.dialplan.find(context, exten)
        while True:
            if call.channel.is_hung_up():
                return self._hung_up(call, context, exten)
            goto = call.channel.take_goto()
            if goto is not None:
                context, exten, priority = goto
                entry = self.dialplan.find(context, exten)
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
            elif outcome != "redirect":       # a redirect is taken at the top of the loop
                context, exten, priority = outcome
                entry = self.dialplan.find(context, exten)

    def _hung_up(self, call: SimCall, context: str, exten: str) -> None:
        if not call.ended:
            call.ended = f"hung up ({call.channel.hangup_cause}) at {context},{exten}"
        self.note(call.label, f"hung up ({call.channel.hangup_cause})")
        h = self.dialplan.step(context, "h", 1) if self.dialplan.find(context, "h") else None
        while h is not None:
            self.note(call.label, f"{context},h,{h.priority} {h.app}({h.args})")
            if h.app.upper() == "AGI":
                self._agi(call, h, "h", dead=True)
            h = self.dialplan.step(context, "h", h.priority + 1)

    def _execute(self, call: SimCall, step: Step, exten: str):
        """Run one priority; None (next priority), 'hangup', 'left', 'redirect' or a
        (context, exten, priority) to continue at."""
        app, args = step.app.lower(), self._substitute(call, step.args, exten)
        self.note(call.label, f"{step.context},{exten},{step.priority} {step.app}({args})")
        if app in ("answer", "noop"):
            return None
        if app == "hangup":
            return self._hang_up_here(call.channel, "Hangup()")
        if app in ("playback", "background"):
            return self._play(call, step, args, keep_digits=app == "background")
        if app == "waitexten":
            return self._wait_exten(call, step, float(args or 0))
        if app == "goto":
            parts = [p.strip() for p in args.split(",")]
            if len(parts) == 1:
                return step.context, exten, int(parts[0])
            if len(parts) == 2:
                return step.context, parts[0], int(parts[1])
            return parts[0], parts[1], int(parts[2])
        if app == "dial" and args.startswith("TRUNKloop/"):
            # the loop trunk dials back into this same dialplan: follow it on this channel
            target = args.split("/", 1)[1].split(",", 1)[0]
            self.run_dialplan(call, step.context, target)
            return "left"
        if app == "agi":
            return self._agi(call, step, exten, dead=False)
        return None

    def _play(self, call: SimCall, step: Step, args: str, *, keep_digits: bool):
        """Playback/Background: the files in turn; Background keeps a digit pressed during
        any of them and dials it, Playback throws it away."""
        for sound in sounds.files(args):
            what, digit = call.channel.pause(call.channel.sound_seconds(sound),
                                             ALL_DIGITS if keep_digits else "", sound=sound,
                                             schedule=call.during_prompt)
            call.during_prompt = []
            outcome = self._listened(call, step.context, what, digit)
            if outcome is not None:
                return outcome
        return None

    def _wait_exten(self, call: SimCall, step: Step, seconds: float):
        """A digit is dialled; a time-out continues at the next priority when there is one,
        else at t (docs/behaviour.md, "The dialplan")."""
        what, digit = call.channel.pause(seconds, ALL_DIGITS,
                                         schedule=call.after_prompt + self._all_heard(call))
        call.after_prompt = []
        outcome = self._listened(call, step.context, what, digit)
        if outcome is not None:
            return outcome
        if self.dialplan.step(step.context, step.exten, step.priority + 1) is not None:
            return None
        if self.dialplan.find(step.context, "t"):
            return step.context, "t", 1
        return self._hang_up_here(call.channel, "WaitExten timed out, no t")

    def _all_heard(self, call: SimCall) -> list[tuple[float, str]]:
        """`call` heard the prompts end. Once every party pressing together has, each presses
        its `together` presses: the others' are set on their channels (in WaitExten already),
        this one's returned for the WaitExten it starts now."""
        with self._lock:
            if call.together:
                self._heard_the_prompts.append(call)
            if not call.together or len(self._heard_the_prompts) < self._pressing_together:
                return []
            others, self._heard_the_prompts = self._heard_the_prompts[:-1], []
        for other in others:
            for delay, digit in other.together:
                other.channel.press_later(delay, digit)
            other.together = []
        mine, call.together = call.together, []
        return mine

    def _listened(self, call: SimCall, context: str, what: str, digit: str):
        """Where a pause that listened for digits leads: a dialled extension, 'hangup',
        'redirect', or None when it just ran out (or its sound was stopped)."""
        if what == "digit":
            return self._dialled(call, context, digit)
        return what if what in ("hangup", "redirect") else None

    @staticmethod
    def _hang_up_here(channel: SimChannel, why: str) -> str:
        channel.hang_up(why)
        return "hangup"

    def _dialled(self, call: SimCall, context: str, digit: str):
        """Asterisk's digit collection: wait the digit timeout for more digits while a longer
        extension could still match, then go to what was dialled, or to `i`."""
        digits = digit
        while self.dialplan.can_match_more(context, digits):
            what, more = call.channel.pause(DIGIT_TIMEOUT_S, ALL_DIGITS, keep_heard=True)
            if what in ("hangup", "redirect"):
                return what
            if what != "digit":
                break
            digits += more
        self.note(call.label, f"dialled {digits}")
        if self.dialplan.find(context, digits):
            return context, digits, 1
        if self.dialplan.find(context, "i"):
            return context, "i", 1
        return self._hang_up_here(call.channel, f"dialled {digits}: no such extension, no i")

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
                      observer=lambda way, text: self._agi_event(call, way, text),
                      hangup_on_command=hangup_on, server=self.fastagi)
        result = run.run(timeout=300)
        record.commands, record.exit_code = len(result.commands), result.exit_code
        record.ended = time.monotonic() - self.t0
        if result.exit_code != 0 or (result.stderr and "ERROR" in result.stderr):
            for line in result.stderr.strip().splitlines()[-3:]:
                self.note(call.label, f"  AGI log: {line}")
        if dead:
            return None
        if result.hung_up:
            return "hangup"
        if result.redirected:
            return "redirect"
        if ((result.context, result.extension, result.priority)
                != (step.context, exten, step.priority)):
            return result.context, result.extension, result.priority
        return None

    def _agi_event(self, call: SimCall, way: str, text: str) -> None:
        self.note(call.label, f"  AGI {way} {text}")
        if way in ("->", "<-"):
            event = "AGIExecStart" if way == "->" else "AGIExecEnd"
            field_name = "Command" if way == "->" else "Result"
            self._publish(event, "agi", call.channel.name, call.channel.uniqueid, call,
                          [(field_name, text)])
        words = split_arguments(text) if way == "->" else []
        if words[:2] == ["EXEC", "UserEvent"] and len(words) > 2:
            self._user_event(call, words[2])

    def _user_event(self, call: SimCall, options: str) -> None:
        """The UserEvent application: `name[,Key: value...]`, an event of class `user`."""
        name, *body = options.split(",")
        pairs = [("UserEvent", name)]
        for item in body:
            key, _, value = item.partition(":")
            pairs.append((key.strip(), value.strip()))
        self._publish("UserEvent", "user", call.channel.name, call.channel.uniqueid, call, pairs)

    @staticmethod
    def _substitute(call: SimCall, text: str, exten: str) -> str:
        """`${...}` as Asterisk expands it: inside out (`${FILTER(0-9,${EXTEN})}`), and a
        value is never expanded again (an extension may contain `${`)."""
        def value(name: str) -> str:
            if name == "EXTEN":
                return exten
            if name.startswith("EXTEN:"):
                return exten[int(name[6:]):]
            if name == "CALLERID(name)":
                return call.caller_name
            if name == "TRUNKloop":
                return "TRUNKloop"
            if name.startswith("FILTER(") and name.endswith(")"):
                allowed, _, value_text = name[7:-1].partition(",")
                return asterisk_filter(allowed, value_text)
            return call.channel.variables.get(name, "")
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            depth, end = 1, start + 2
            while end < len(text) and depth:          # the `}` that closes this `${`
                if text.startswith("${", end):
                    depth, end = depth + 1, end + 2
                else:
                    depth, end = depth - (text[end] == "}"), end + 1
            out += [text[i:start],
                    value(Simulation._substitute(call, text[start + 2:end - 1], exten))]
            i = end
        return "".join(out) + text[i:]


def asterisk_filter(allowed: str, text: str) -> str:
    """Asterisk's FILTER(allowed,text): the characters of `text` that `allowed` lists, where
    `a-b` is a range (`0-9*#`: the digits, `*` and `#`)."""
    chars, i = set(), 0
    while i < len(allowed):
        if i + 2 < len(allowed) and allowed[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(allowed[i]), ord(allowed[i + 2]) + 1))
            i += 3
        else:
            chars.add(allowed[i])
            i += 1
    return "".join(c for c in text if c in chars)
