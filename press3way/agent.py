"""The agent leg (`agi-3way_press_agent.agi`): start the outside calls, wait for a winner,
reserve a conference, transfer; or buzz as soon as nobody is left.

Top to bottom: who is calling, which numbers, place the calls, wait for the decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from . import events as ev
from . import leg as legs
from . import numbers, vicidial
from .agi import Channel, Hangup
from .ami import AMIClient, AMIError
from .db import Call
from .leg import Leg

SCRIPT = "agi-3way_press_agent.agi"
AGENT_TIMEOUT_S = 100          # how long the agent and customer wait for a winner
DIAL_TIMEOUT_S = 80            # how long each outside call may ring
POLL_S = 0.03
HEARTBEAT_EVERY_S = 1.0        # the outside legs call us gone after 9 s
HOLD_TONE_EVERY_S = 5.0
DEFAULT_PACING_S = 0.025
OUTSIDE_CONTEXT = "xfer_press_dialplan"


@dataclass
class Agent:
    """Who started the 3-way call (SPEC section 9)."""
    caller_code: str
    outbound_cid: str
    lead_id: int
    server_ip: str
    session: str
    user: str


def flow(leg: Leg) -> None:
    if leg.stage != "start":
        raise ValueError(f"unknown stage {leg.stage!r} (expected start)")
    agent_timeout = leg.timeouts[0] if leg.timeouts else AGENT_TIMEOUT_S
    dial_timeout = leg.timeouts[1] if len(leg.timeouts) > 1 else DIAL_TIMEOUT_S
    dialstring = numbers.dialstring_from_extension(leg.channel.env.get("agi_extension", ""))
    agent = identify(leg)
    leg.log.channel = f"{leg.channel.name}|{agent.caller_code}"
    Batch(leg, agent, calls_to_place(leg, agent, dialstring)).run(dial_timeout, agent_timeout)


def identify(leg: Leg) -> Agent:
    caller_code = leg.channel.env.get("agi_calleridname", "")
    lead_id = vicidial.lead_from_caller_code(caller_code)
    if lead_id is None:
        raise vicidial.NotFound(f"caller id name {caller_code[:40]!r} carries no lead id")
    server_ip, session = vicidial.agent_session(leg.conn, caller_code)
    user = vicidial.agent_user(leg.conn, lead_id, server_ip)
    return Agent(caller_code, leg.channel.env.get("agi_callerid", ""), lead_id, server_ip,
                 session, user)


def calls_to_place(leg: Leg, agent: Agent, dialstring: str) -> list[Call]:
    """One call for the dialstring, or one per number of the user's NEW multi-call list."""
    prefix, phone = numbers.split_dialstring(dialstring)
    multi = leg.store.claim_multi(agent.user)
    phones = [phone] if multi is None else numbers.phone_list(",".join(multi))
    if multi is not None:
        leg.log(f"multi-call: {len(phones)} numbers for user {agent.user}")
    ids = numbers.call_ids(agent.lead_id, len(phones))
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

    def run(self, dial_timeout: int, agent_timeout: int) -> None:
        try:
            self.place(dial_timeout)
            self.wait_for_decision(agent_timeout)
        except BaseException as exc:     # hung up, or a failure: never leave live rows behind
            why = "the agent leg hung up" if isinstance(exc, Hangup) else f"failure: {exc}"
            try:
                self._abandon(ev.AGENT_GONE, why)
            except Exception as cleanup_error:      # noqa: BLE001 - report the first failure
                self.leg.log.error(f"could not end the calls: {cleanup_error}")
            raise
        finally:
            if self.ami is not None:
                self.ami.logoff()

    # --- placing the calls -------------------------------------------------------------
    def place(self, dial_timeout: int) -> None:
        ami_error = self._connect_ami()
        cps = self.leg.server.outbound_calls_per_second
        pacing = 1.0 / cps if 1 <= cps <= 200 else DEFAULT_PACING_S
        for n, call in enumerate(self.calls):
            if n:
                self.leg.channel.wait(pacing)
                self.store.touch_heartbeat(self.agent.caller_code)
            self.store.start_call(call)
            if ami_error:
                self._failed(call.call_3way_id, ami_error)
                continue
            try:
                action_id = self.ami.originate(
                    f"Local/{call.dialstring}@default", OUTSIDE_CONTEXT, "s", 1,
                    f'"{call.call_3way_id}" <{call.outbound_cid}>', dial_timeout * 1000,
                    {"__lead_id": str(call.lead_id), "__call_3way_id": call.call_3way_id},
                    call.call_3way_id)
                self.originates[action_id] = call.call_3way_id
                self.leg.log(f"originated {call.call_3way_id} to {call.dialstring}")
            except AMIError as exc:
                ami_error = str(exc)
                self._failed(call.call_3way_id, ami_error)

    def _connect_ami(self) -> str:
        """Log in to AMI; the reason it failed, or ''."""
        srv, cfg = self.leg.server, self.leg.cfg
        try:
            self.ami = AMIClient(cfg.ami_host or srv.telnet_host, cfg.ami_port or srv.telnet_port)
            self.ami.connect().login(cfg.ami_user or srv.ami_user, cfg.ami_secret or srv.ami_secret)
            return ""
        except AMIError as exc:
            self.ami = None
            return str(exc)

    def _failed(self, call_id: str, why: str) -> None:
        self.leg.log.error(f"call {call_id} failed: {why}: Hungup")
        self.store.end_call(call_id, ev.S_HUNGUP, ev.HUNGUP)

    # --- waiting -----------------------------------------------------------------------
    def wait_for_decision(self, agent_timeout: int) -> None:
        start = time.monotonic()
        deadline = start + agent_timeout
        next_beat, next_tone = start + HEARTBEAT_EVERY_S, start + HOLD_TONE_EVERY_S
        no_conference_logged = False
        while True:
            self._collect_originate_failures()
            rows = self.store.batch(self.agent.caller_code)
            winner = next((r for r in rows if r["status"] == ev.S_ACCEPTED), None)
            if winner is not None:
                conf = vicidial.reserve_conference(self.leg.conn, self.leg.server,
                                                   self.agent.user, self.agent.session)
                if conf is not None and self._transfer(winner, conf, rows):
                    return
                if conf is None and not no_conference_logged:
                    self.leg.log.error("no free conference to reserve; still trying")
                    no_conference_logged = True
            for row in rows:
                if row["status"] in ev.FINISHED:
                    self.store.delete_live(row["call_3way_id"])
            if not any(r["status"] in ev.OPEN + (ev.S_ACCEPTED,) for r in rows):
                # left: nothing, or calls defeated by a winner who hung up before the transfer
                self._abandon(ev.DEFEATED, "no outside call can still win")
                self._end("every outside call ended without a transfer")
                return
            now = time.monotonic()
            if now >= deadline:
                self._abandon(ev.TIMEOUT, f"no winner within {agent_timeout} s")
                self._end("Timeout")
                return
            if now >= next_beat:
                self.store.touch_heartbeat(self.agent.caller_code)
                next_beat = now + HEARTBEAT_EVERY_S
            if now >= next_tone:
                self.leg.channel.stream_file("hold_tone")
                next_tone = time.monotonic() + HOLD_TONE_EVERY_S
            self.leg.channel.wait(POLL_S)

    def _collect_originate_failures(self) -> None:
        if self.ami is None:
            return
        try:
            self.ami.poll()
        except AMIError as exc:
            self.leg.log.error(f"AMI connection lost: {exc}; watching the database only")
            self.ami = None
            return
        for action_id, result in list(self.ami.originates.items()):
            call_id = self.originates.pop(action_id, None)
            del self.ami.originates[action_id]
            if call_id and not result.success:
                self._failed(call_id, f"originate failed ({result.reason})")

    # --- the outcomes ------------------------------------------------------------------
    def _transfer(self, winner: dict, conf: str, rows: list[dict]) -> bool:
        """Hand the winner its conference, cut everyone else, and join it ourselves.
        False (the conference given back) when the winner is no longer waiting for it."""
        if not self.store.reserve(winner["call_3way_id"], conf):
            vicidial.release_conference(self.leg.conn, self.leg.server, conf)
            return False
        for row in rows:
            if row is not winner and row["status"] not in ev.FINISHED:
                self.store.end_call(row["call_3way_id"], ev.S_DEFEATED, ev.DEFEATED,
                                    only_from=ev.OPEN + (ev.S_DEFEATED,))
                self._hang_up(row)
                self.store.delete_live(row["call_3way_id"])
            elif row["status"] in ev.FINISHED:
                self.store.delete_live(row["call_3way_id"])
        exten = self.leg.server.conference_exten(conf)
        self.leg.log(f"Reserved {conf} for {winner['call_3way_id']}; agent leg to "
                     f"{exten}@{self.leg.server.ext_context}")
        self.leg.channel.goto(self.leg.server.ext_context, exten)
        return True

    def _abandon(self, event: str, why: str) -> None:
        """End every unfinished call with `event`, hang them up, remove the batch's rows."""
        for row in self.store.batch(self.agent.caller_code):
            if row["status"] not in ev.FINISHED:
                self.leg.log(f"{why}: {event} for {row['call_3way_id']}")
                self.store.append_event(row["call_3way_id"], event)
                self._hang_up(row)
        self.store.delete_batch(self.agent.caller_code)

    def _end(self, why: str) -> None:
        self.leg.log(f"{why}: buzz")
        self.store.delete_batch(self.agent.caller_code)
        self.leg.channel.stream_file("buzz")

    def _hang_up(self, row: dict) -> None:
        """Cut an outside call, ringing or answered (its ChannelId is its call id)."""
        if self.ami is None:
            return
        try:
            self.ami.hangup(row["call_channel"] or row["call_3way_id"])
        except AMIError as exc:
            self.leg.log.error(f"could not hang up {row['call_3way_id']}: {exc}")


def _on_failure(leg: Leg | None, channel: Channel) -> None:
    channel.stream_file("buzz")


def main(make_channel: Callable[[], Channel] = Channel) -> int:
    return legs.run(SCRIPT, flow, _on_failure, make_channel)
