"""The agent leg (`agi-3way_press_agent.agi`): start the outside calls, wait for a winner,
reserve a conference, transfer; or buzz as soon as nobody is left.

Top to bottom: who is calling, which numbers, place the calls, wait for the decision.
"""

from __future__ import annotations

import time

from .. import callstate as cs
from .. import dialstrings, vicidial
from .. import events as ev
from ..database import DatabaseError
from ..lean_dataclass import lean_dataclass
from ..store import Call
from ..telephony import hangup
from ..telephony.agi import Channel, Hangup
from ..telephony.ami import AMIClient, AMIError, NotSent
from . import CALL_ID_VARIABLE, admission, runner
from .runner import Leg

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from typing import Callable

SCRIPT = "agi-3way_press_agent.agi"
STAGES = ("start",)
AGENT_TIMEOUT_S = 100          # how long the agent and customer wait for a winner
DIAL_TIMEOUT_S = 80            # how long each outside call may ring
POLL_S = 0.03                  # how often the batch is read when AMI cannot tell us
SAFETY_POLL_S = 1.0            # ...when AMI wakes us on every event about the batch
FAST_POLL_S = 0.015            # ...soon after such an event, then less and less often
FAST_WINDOW_S = 1.0
HEARTBEAT_EVERY_S = 3.0        # the outside legs call us gone after 9 s
HOLD_TONE_EVERY_S = 5.0
STOP_AGAIN_S = 0.05            # a hold tone not stopped by then is told to stop again...
STOP_TONE_S = 0.5              # ...for this long at most (VICIdial's tone lasts 0.46 s)
DEFAULT_PACING_S = 0.025
OUTSIDE_CONTEXT = "xfer_press_dialplan"
CALLER_ID_DIGITS = 20          # outbound_cid VARCHAR(20)
CHANNEL_MADE_S = 1.5           # how long a call placed just before a hang-up may take to exist


@lean_dataclass
class Agent:
    """Who started the 3-way call (docs/behaviour.md, "VICIdial's tables")."""
    caller_code: str
    outbound_cid: str
    lead_id: int
    server_ip: str
    session: str
    user: str


def flow(leg: Leg) -> None:
    if leg.stage not in STAGES:
        raise ValueError(f"unknown stage {leg.stage!r} (expected {', '.join(STAGES)})")
    agent_timeout = leg.timeouts[0] if leg.timeouts else AGENT_TIMEOUT_S
    dial_timeout = leg.timeouts[1] if len(leg.timeouts) > 1 else DIAL_TIMEOUT_S
    dialstring = dialstrings.dialstring_from_extension(leg.channel.env.get("agi_extension", ""))
    agent = identify(leg)
    leg.log.channel = f"{leg.channel.name}|{agent.caller_code}"
    slot = admission.take_slot(leg.conn, agent.server_ip, leg.max_batches)
    try:
        batch = Batch(leg, agent, calls_to_place(leg, agent, dialstring))
        batch.run(dial_timeout, leg.started + agent_timeout, agent_timeout)
    finally:        # a pooled connection (FastAGI) lives on; a process's goes with it
        admission.give_back(leg.conn, slot)


def identify(leg: Leg) -> Agent:
    caller_code = leg.channel.env.get("agi_calleridname", "")
    lead_id = vicidial.lead_from_caller_code(caller_code)
    if lead_id is None:
        raise vicidial.NotFound(f"caller id name {caller_code[:40]!r} carries no lead id")
    server_ip, session = vicidial.agent_session(leg.conn, caller_code)
    user = vicidial.agent_user(leg.conn, session, server_ip)
    return Agent(caller_code, caller_number(leg.channel.env.get("agi_callerid", "")), lead_id,
                 server_ip, session, user)


def caller_number(text: str) -> str:
    """The agent's caller id as Originate's CallerID number takes it: its digits only (as the
    reference version keeps), at most what the log's outbound_cid column holds."""
    return "".join(c for c in text if c in "0123456789")[:CALLER_ID_DIGITS]


def calls_to_place(leg: Leg, agent: Agent, dialstring: str) -> list[Call]:
    """One call for the dialstring, or one per number of the user's NEW multi-call list."""
    prefix, phone = dialstrings.split_dialstring(dialstring)
    phones = [phone]
    multi, why_not = leg.store.claim_multi(agent.user)
    if why_not:
        leg.log.error(f"multi-call list of user {agent.user} not dialled: {why_not}")
    if multi is not None:
        prefix, phones, skipped = dialstrings.multi_dial(dialstring, ",".join(multi))
        for why in skipped:
            leg.log.error(f"multi-call list of user {agent.user}: {why}: not dialled")
        if not phones:
            raise ValueError(f"multi-call list of user {agent.user} has no number to dial")
        leg.log(f"multi-call: {len(phones)} numbers for user {agent.user}, prefix {prefix!r}")
    ids = dialstrings.call_ids(agent.lead_id, len(phones))
    return [Call(agent.caller_code, call_id, agent.lead_id, number, prefix + number,
                 agent.outbound_cid, agent.user, agent.session, agent.server_ip)
            for call_id, number in zip(ids, phones)]


class Batch:
    """The outside calls of one agent leg, from placing them to the decision."""

    def __init__(self, leg: Leg, agent: Agent, calls: list[Call]):
        self.leg, self.agent, self.calls = leg, agent, calls
        self.store = leg.store
        self.ami: AMIClient | None = None
        self.originates: dict[str, str] = {}        # ActionID -> call id
        self.placed: list[str] = []                 # call ids whose originate was sent
        self.owed = False       # some call's log could not be written: its row stays behind
        # call id -> uniqueids of its Local channel's halves (its hang-ups go by the first)
        self.uniqueids = dict(zip((call.call_3way_id for call in calls),
                                  dialstrings.channel_ids(len(calls))))
        self._our_uniqueids = {uid for ids in self.uniqueids.values() for uid in ids}
        self._made: set[str] = set()    # uniqueids of ours that Asterisk has made a channel of
        self.tag = vicidial.reservation_tag(agent.user)
        self.held: vicidial.Reservation | None = None     # the conference reserved
        self.sent_into = ""              # the conference the agent leg was sent into
        self._no_conference_logged = False

    def run(self, dial_timeout: int, deadline: float, agent_timeout: int) -> None:
        try:
            self.place(dial_timeout, deadline)
            self.wait_for_decision(deadline, agent_timeout)
        except BaseException as exc:     # hung up, or a failure: never leave live rows behind
            why = "the agent leg hung up" if isinstance(exc, Hangup) else f"failure: {exc}"
            hangup.expect()              # the clean-up below runs to its end regardless
            try:
                self._abandon(ev.AGENT_GONE, why)
            except Exception as cleanup_error:      # noqa: BLE001 - report the first failure
                self.leg.log.error(f"could not end the calls: {cleanup_error}")
            raise
        finally:
            self._leave()
            if self.ami is not None:
                self.ami.logoff()

    def _leave(self) -> None:
        """Rows whose log is owed stayed behind (`Store.delete_batch`): mark the batch over,
        so the next `press3way cleanup` writes what they owe."""
        if not self.owed:
            return
        try:
            self.store.leave_batch(self.agent.caller_code)
        except DatabaseError as exc:        # all the tables locked: they go stale by themselves
            self.leg.log.error(f"could not mark the batch's unlogged calls: {exc}")

    # --- placing the calls -------------------------------------------------------------
    def place(self, dial_timeout: int, deadline: float) -> None:
        ami_error = self._connect_ami()
        cps = self.leg.server.outbound_calls_per_second
        pacing = 1.0 / cps if 1 <= cps <= 200 else DEFAULT_PACING_S
        next_beat = time.monotonic() + HEARTBEAT_EVERY_S    # new rows start with a fresh one
        for n, call in enumerate(self.calls):
            if n:
                self.leg.channel.wait(pacing)
            if n and time.monotonic() >= next_beat:           # a slow pacing: keep beating
                self.store.touch_heartbeat(self.agent.caller_code)
                next_beat = time.monotonic() + HEARTBEAT_EVERY_S
            if time.monotonic() >= deadline:    # the rest are never launched, nor logged
                self.leg.log.error(f"the agent timeout ran out after placing {n} of "
                                   f"{len(self.calls)} calls")
                self.calls = self.calls[:n]
                return
            self.store.start_call(call)
            if ami_error:
                self._failed(call.call_3way_id, ami_error)
                continue
            self.placed.append(call.call_3way_id)   # from its sending on: the reply may never
            try:                                    # be read (a hang-up while it is awaited)
                action_id = self.ami.originate(   # type: ignore[union-attr]  # ami_error: None
                    f"Local/{call.dialstring}@default", OUTSIDE_CONTEXT, "s", 1,
                    f'"{call.call_3way_id}" <{call.outbound_cid}>', dial_timeout * 1000,
                    {"__lead_id": str(call.lead_id), f"__{CALL_ID_VARIABLE}": call.call_3way_id},
                    self.uniqueids[call.call_3way_id])
                self.originates[action_id] = call.call_3way_id
                self.leg.log(f"originated {call.call_3way_id} to {call.dialstring} "
                             f"({self.uniqueids[call.call_3way_id][0]})")
            except NotSent:
                self.placed.remove(call.call_3way_id)
                raise
            except AMIError as exc:
                self.placed.remove(call.call_3way_id)
                ami_error = str(exc)
                self._failed(call.call_3way_id, ami_error)

    def _connect_ami(self) -> str:
        """Log in to AMI; the reason it failed, or ''."""
        srv, cfg = self.leg.server, self.leg.cfg
        try:
            self.ami = AMIClient(cfg.ami_host or srv.telnet_host, cfg.ami_port or srv.telnet_port)
            self.ami.connect().login(cfg.ami_user or srv.ami_user, cfg.ami_secret or srv.ami_secret,
                                     events="call,user")
            self.ami.watch = self._concerns
            return ""
        except AMIError as exc:
            self.ami = None
            return str(exc)

    def _failed(self, call_id: str, why: str) -> None:
        self.leg.log.error(f"call {call_id} failed: {why}: Hungup")
        self.store.end_call(call_id, "not_placed", ev.HUNGUP)

    # --- waiting -----------------------------------------------------------------------
    def wait_for_decision(self, deadline: float, agent_timeout: int) -> None:
        """Read the batch when AMI says something happened to it (a winner's notice, a
        hang-up, a failed originate), and otherwise only every SAFETY_POLL_S."""
        now = time.monotonic()
        # what AMI told us while the calls were placed decides whether to read the batch now
        next_poll = now if self.ami is None or self._collect_ami() else now + SAFETY_POLL_S
        fast_until, fast_poll = 0.0, FAST_POLL_S
        next_beat, next_tone = now + HEARTBEAT_EVERY_S, now + HOLD_TONE_EVERY_S
        while True:
            now = time.monotonic()
            if now >= next_poll:
                if self._decided(self.store.batch(self.agent.caller_code)):
                    return
                now = time.monotonic()
                fast_poll *= 2          # the outside leg's write follows its hang-up closely
                next_poll = now + (POLL_S if self.ami is None else
                                   fast_poll if now < fast_until else SAFETY_POLL_S)
            if now >= deadline:
                self._abandon(ev.TIMEOUT, f"no winner within {agent_timeout} s")
                self._end("Timeout")
                return
            if now >= next_beat:
                self.store.touch_heartbeat(self.agent.caller_code)
                next_beat = now + HEARTBEAT_EVERY_S
            if now >= next_tone and not self.leg.channel.playing:
                self.leg.channel.start_sound("hold_tone")
                next_tone = now + HOLD_TONE_EVERY_S
            until = min(next_poll, next_beat, next_tone, deadline) - time.monotonic()
            wake_on = [self.ami.fileno()] if self.ami is not None else []
            if self.leg.channel.wait(max(until, 0.0), wake_on) and self._collect_ami():
                fast_until, fast_poll = time.monotonic() + FAST_WINDOW_S, FAST_POLL_S / 2
                next_poll = time.monotonic()

    def _decided(self, rows: list[dict]) -> bool:
        """Act on the batch's rows: transfer to a winner, or end when nobody can win."""
        winner = next((r for r in rows if r["status"] == cs.S_ACCEPTED), None)
        if winner is not None:
            if self._transfer(winner, rows):
                return True
            if self.held is None and not self._no_conference_logged:
                self.leg.log.error("no free conference to reserve; still trying")
                self._no_conference_logged = True
        for row in rows:
            if row["status"] in cs.FINISHED:
                self.store.delete_live(row["call_3way_id"])
        if any(r["status"] in cs.OPEN + (cs.S_ACCEPTED,) for r in rows):
            return False
        # left: nothing, or calls defeated by a winner who hung up before the transfer
        self._abandon(ev.DEFEATED, "no outside call can still win")
        self._end("every outside call ended without a transfer")
        return True

    def _concerns(self, event: dict[str, str]) -> bool:
        """AMI events that may change the batch: a winner's notice, one of our calls ending.
        Every event of one of our channels also says Asterisk has made it (`_not_made_yet`)."""
        name = event.get("Event")
        if event.get("Uniqueid") in self._our_uniqueids:
            self._made.add(event["Uniqueid"])
        if name == "UserEvent":
            return event.get("UserEvent") == ev.WIN_NOTICE and event.get("Call") in self.uniqueids
        return name == "Hangup" and event.get("Uniqueid") in self._our_uniqueids

    def _collect_ami(self) -> bool:
        """Take in AMI's news; True when something about the batch happened."""
        if self.ami is None:
            return False
        try:
            self.ami.poll()
        except AMIError as exc:
            self.leg.log.error(f"AMI connection lost: {exc}; watching the database only")
            self.ami = None
            return True
        news = bool(self.ami.noticed)
        self.ami.noticed.clear()
        for action_id, result in list(self.ami.originates.items()):
            call_id = self.originates.pop(action_id, None)
            del self.ami.originates[action_id]
            if call_id and not result.success:
                self._failed(call_id, f"originate failed ({result.reason})")
                news = True
        return news

    # --- the outcomes ------------------------------------------------------------------
    def _transfer(self, winner: dict, rows: list[dict]) -> bool:
        """Hand the winner a conference, join it, then cut everyone else. False while no
        conference is free, or when the winner is no longer waiting (the conference is
        given back)."""
        if self.held is None:
            self.held = vicidial.reserve_conference(self.leg.conn, self.leg.server, self.tag,
                                                    self.agent.session)
            if self.held is None:
                return False
        if not self.store.reserve(winner["call_3way_id"], self.held.conf_exten):
            self._release()
            return False
        winner_id, conf = winner["call_3way_id"], self.held.conf_exten
        exten = self.leg.server.conference_exten(conf)
        self.leg.log(f"Reserved {conf} for {winner_id}; agent leg to "
                     f"{exten}@{self.leg.server.ext_context}")
        self._stop_hold_tone()
        self.leg.channel.goto(self.leg.server.ext_context, exten)
        self.sent_into = conf            # a live agent leg goes into the room from here on
        self.leg.channel.detach()        # Asterisk moves the agent leg now, not at our exit
        hangup.expect()
        # only now may the winner follow: an agent leg hung up before this point never
        # leaves a party alone in the conference
        if self.store.hand_over(winner_id):
            self._log_reserved(winner_id, conf)
        else:
            self.leg.log.error(f"{winner_id} stopped waiting before the transfer")
            self._leave_to_vicidial()
        self._end_others([row for row in rows if row is not winner])
        return True

    def _log_reserved(self, winner_id: str, conf: str) -> None:
        """Reserved in the log; the agent leg is on its way, so a log it cannot write now
        ends nothing (the winner's Transfer brings Reserved, or `press3way cleanup` does)."""
        try:
            self.store.log_reserved(winner_id, conf)
        except DatabaseError as exc:
            self.leg.log.error(f"could not log Reserved for {winner_id}: {exc}")

    def _stop_hold_tone(self) -> None:
        """A transfer never waits for the tone to end: AMI stops it, again until the tone's
        reply comes (a stop landing before the playback has begun stops nothing), for at
        most STOP_TONE_S; else it plays out."""
        deadline, again = time.monotonic() + STOP_TONE_S, False
        while self.leg.channel.playing and self.ami is not None \
                and time.monotonic() < deadline:
            try:
                self.ami.stop_playback(self.leg.channel.name)
            except AMIError as exc:     # once stopped, nothing is left to stop: no error then
                if not again:
                    self.leg.log.error(f"could not stop the hold tone: {exc}")
                break
            again = True
            self.leg.channel.wait(STOP_AGAIN_S)     # returns as soon as the tone's reply comes
        self.leg.channel.finish_sound()

    def _end_others(self, rows: list[dict]) -> None:
        """After the transfer: the calls the winner defeated are logged, cut and removed
        (the election already marked them DEFEATED)."""
        ongoing = [row for row in rows if row["status"] not in cs.FINISHED]
        try:
            self.store.log_defeated([row["call_3way_id"] for row in ongoing])
        except DatabaseError as exc:
            self.owed = True
            self.leg.log.error(f"could not log the defeated calls: {exc}")
        for row in ongoing:
            self._hang_up(row)
        try:
            self.store.delete_calls([row["call_3way_id"] for row in rows])
        except DatabaseError as exc:
            self.leg.log.error(f"could not remove the defeated calls: {exc}")

    def _release(self) -> None:
        if self.held is not None:
            vicidial.release_conference(self.leg.conn, self.leg.server, self.held)
            self.held = None

    def _leave_to_vicidial(self) -> None:
        """The agent leg is in the room without a winner: never set it free (VICIdial could
        hand it to another call while our line is in it); VICIdial's leave-3way clean-up
        kicks the lone line and frees the room."""
        self.held = None
        try:
            vicidial.mark_conference_left(self.leg.conn, self.leg.server, self.sent_into,
                                          self.agent.user)
        except DatabaseError as exc:
            self.leg.log.error(f"could not leave conference {self.sent_into} to VICIdial's "
                               f"leave-3way clean-up: {exc}")
            return
        self.leg.log(f"conference {self.sent_into} left to VICIdial's leave-3way clean-up")

    def _abandon(self, event: str, why: str) -> None:
        """End every unfinished call with `event`, hang them up, remove the batch's rows and
        give back a conference the winner never took (the agent leg's own room, once it was
        sent there, goes to VICIdial's leave-3way clean-up instead)."""
        try:
            unlogged = ""
            for row in self._batch_or_cut():
                if row["status"] in cs.FINISHED:
                    continue
                if not unlogged:
                    try:    # a call that ended otherwise (a winner transferred) is left be
                        if not self.store.append_event(row["call_3way_id"], event):
                            continue
                        self.leg.log(f"{why}: {event} for {row['call_3way_id']}")
                    except DatabaseError as exc:    # every later write would wait as long
                        unlogged = str(exc)
                        self.leg.log.error(f"{why}: cannot log {event} ({unlogged}); the "
                                           "calls are cut, `press3way cleanup` logs them")
                if not unlogged or row["status"] in cs.OPEN + (cs.S_ACCEPTED,):
                    self._hang_up(row)
            self.owed |= bool(unlogged) or bool(self.store.delete_batch(self.agent.caller_code))
        finally:                # another table: it may still be reachable when these are not
            self.held = None
            if self.sent_into:
                self._leave_to_vicidial()
            try:
                vicidial.release_tagged(self.leg.conn, self.leg.server, self.tag, self.sent_into)
            except DatabaseError as exc:
                self.leg.log.error(f"could not give back conference {self.tag}: {exc}")

    def _batch_or_cut(self) -> list[dict]:
        """The batch's rows (a backup's READ lock lets them be read). When even that fails,
        the calls placed are cut unseen, unless a winner may be on its way to a conference."""
        try:
            return self.store.batch(self.agent.caller_code)
        except DatabaseError:
            if self.held is None:
                for call_id in self.placed:
                    self._hang_up({"call_3way_id": call_id, "call_channel": ""})
            raise

    def _end(self, why: str) -> None:
        self.leg.log(f"{why}: buzz")
        self.owed |= bool(self.store.delete_batch(self.agent.caller_code))
        self._stop_hold_tone()
        self.leg.channel.stream_file("buzz")

    def _hang_up(self, row: dict) -> None:
        """Cut an outside call, ringing or answered, by the uniqueid our Originate gave it:
        never by the name its `answered` stage reported (whoever ran that stage chose it, and
        AMI reads `/.../` as a pattern of names); a row we did not originate is left be."""
        call_id = row["call_3way_id"]
        channel_ids = self.uniqueids.get(call_id)
        ami = self.ami
        if ami is None or channel_ids is None:
            return
        try:
            if not ami.hangup(channel_ids[0]) and self._not_made_yet(ami, call_id):
                ami.hangup(channel_ids[0])
        except AMIError as exc:
            self.leg.log.error(f"could not hang up {call_id}: {exc}")

    def _not_made_yet(self, ami: AMIClient, call_id: str) -> bool:
        """After "No such channel": whether the call was placed just before and Asterisk, busy,
        has only now made its channel (awaited for at most CHANNEL_MADE_S), so that a second
        Hangup finds it. False for a call whose channel ended already or will never exist."""
        channel_id = self.uniqueids[call_id][0]
        if call_id not in self.placed or channel_id in self._made:
            return False
        hangup.expect()     # the batch is ending: this wait and the Hangup run to their end
        deadline = time.monotonic() + CHANNEL_MADE_S
        while channel_id not in self._made and call_id not in self._originate_answered(ami) \
                and time.monotonic() < deadline:
            ami.poll(wait=deadline - time.monotonic())
        if channel_id in self._made:
            return True
        self.leg.log.error(f"call {call_id}: no channel {channel_id} within {CHANNEL_MADE_S} s "
                           "of its hang-up; if it rings, its answered stage ends it")
        return False

    def _originate_answered(self, ami: AMIClient) -> set[str]:
        """The calls whose OriginateResponse has come (the channel was made, or never will be)."""
        return {self.originates[a] for a in ami.originates if a in self.originates}


def _on_failure(leg: Leg | None, channel: Channel) -> None:
    channel.stream_file("buzz")


def main(make_channel: Callable[[], Channel] = Channel) -> int:
    return runner.run(SCRIPT, flow, _on_failure, make_channel)
