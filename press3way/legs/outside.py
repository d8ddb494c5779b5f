"""The outside leg (`agi-3way_press_outside.agi`): answered, accepted, declined, hungup.

Each stage finds its live row by call id, checks the agent leg is still there, and moves the
call on. The call's lead, user, session and server come from the live row, never from caller id.
"""

from __future__ import annotations

import time

from .. import callstate as cs
from .. import events as ev
from .. import vicidial
from ..database import READ_TIMEOUT_S, DatabaseError
from ..telephony import hangup
from ..telephony.agi import AgiError, Channel, Hangup
from . import CALL_ID_VARIABLE, runner
from .runner import Leg

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from typing import Callable

SCRIPT = "agi-3way_press_outside.agi"
ACCEPT_WAIT_DEFAULT_S = 10
FIRST_POLL_S = 0.01          # the reservation usually comes within tens of milliseconds...
MAX_POLL_S = 0.25            # ...so the row is read often at first, then less and less
HANDOVER_POLL_S = 0.004      # reserved: the agent leg hands over within milliseconds...
HANDOVER_GRACE_S = 2 * READ_TIMEOUT_S + 2    # ...or after a lost connection and a retry
HOLD_TONE_EVERY_S = 5


def call_id(channel: Channel) -> str:
    """The channel variable call_3way_id, falling back to the caller id name."""
    return channel.get_variable(CALL_ID_VARIABLE) or channel.env.get("agi_calleridname", "")


def flow(leg: Leg) -> None:
    stage = leg.stage
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (expected {', '.join(STAGES)})")
    cid = call_id(leg.channel)
    if stage == "answered" and cid and leg.store.answered(cid, leg.channel.name):
        leg.log.channel = f"{leg.channel.name}|{cid}"      # every call's first stage: one
        leg.log("Answered")                                 # statement unless it is amiss
        return
    row = leg.store.live_call(cid) if cid else None
    if row is None:
        if stage in ENDING_STAGES:  # the agent leg's own h, or a call that is already over
            leg.log(f"{stage}: no live call {cid!r}, nothing to do")
            return
        leg.log.error(f"no live call for call id {cid!r}; sending the call to i")
        leg.channel.goto_invalid()
        return
    leg.log.channel = f"{leg.channel.name}|{cid}"
    if row["agent_gone"]:
        agent_gone(leg, cid, "heartbeat stale")
        return
    STAGES[stage](leg, row)


def agent_gone(leg: Leg, cid: str, why: str) -> None:
    leg.log(f"agent leg gone ({why}): Agent Gone")
    leg.store.end_call(cid, "agent_gone", ev.AGENT_GONE)
    leg.store.delete_live(cid)
    if leg.stage not in ENDING_STAGES:
        leg.channel.goto_invalid()


def answered(leg: Leg, row: dict) -> None:
    """Reached when `flow`'s one statement changed nothing: the call was answered already."""
    leg.store.answered(row["call_3way_id"], leg.channel.name)
    leg.log("Answered")


def declined(leg: Leg, row: dict) -> None:
    """No press in time, another key, or this leg failed: Declined. A winner whose own leg
    failed before the agent leg reserved gives the win back, so the calls it defeated can
    still win."""
    cid, store = row["call_3way_id"], leg.store
    gave_back = store.move(cid, "give_back")
    if gave_back:
        store.reopen_defeated(row["caller_code"])
    if gave_back or store.move(cid, "decline"):
        if store.append_event(cid, ev.DECLINED):
            leg.log("Declined" + (": the win is given back" if gave_back else ""))


def hungup(leg: Leg, row: dict) -> None:
    cid, store = row["call_3way_id"], leg.store
    # a winner (perhaps elected since the row was read): the h run may come first
    if row["status"] in cs.WON or (not store.move(cid, "hang_up")
                                   and store.status(cid) in cs.WON):
        ended = winner_hung_up(leg, row)
    else:                               # hung up before any press, or at most its missing end
        ended = store.append_event(cid, ev.HUNGUP)
    if ended:
        leg.log("Hungup")


def winner_hung_up(leg: Leg, row: dict) -> bool:
    """The winner hung up before it was in the conference (seen by its accepted run or by its
    h run, whichever comes first): Hungup, and a room the agent leg already went into left to
    VICIdial's leave-3way clean-up. The two moves are tried in this order so that exactly one
    side leaves the room: before the hand-over (RESERVED) the agent leg's `hand_over` then
    fails and it leaves the room itself; after it (TRANSFER) this run does. Only the run that
    made a move removes the row (the other may still need to read it). True when this run
    logged the Hungup."""
    cid, store = row["call_3way_id"], leg.store
    moved = store.move(cid, "hang_up_winner")
    handed_over = not moved and store.move(cid, "hang_up_handed_over")
    logged = store.append_event(cid, ev.HUNGUP)
    if handed_over:                  # the agent leg is in the room, waiting for nobody
        leave_room(leg, store.live_call(cid), row["user"])
    if moved or handed_over:
        store.delete_live(cid)
    return logged


def accepted(leg: Leg, row: dict) -> None:
    cid, store = row["call_3way_id"], leg.store
    try:
        won = store.elect(cid, row["caller_code"])
    except cs.LogBehind as exc:         # a backup locks the log: the win goes on regardless
        won = True
        leg.log.error(f"{exc}; the Transfer or `press3way cleanup` logs it")
    if not won:
        store.end_call(cid, "too_slow", ev.TOO_SLOW)
        leg.log("pressed 1 after another call of the batch won: Too Slow")
        return
    leg.log("Accepted: waiting for the agent leg to reserve a conference")
    try:
        notify_agent_leg(leg, cid)
        conf = wait_for_reservation(leg, cid, leg.timeouts[0] if leg.timeouts
                                    else ACCEPT_WAIT_DEFAULT_S)
    except Hangup:
        hangup.expect()                  # log it whatever else Asterisk says
        winner_hung_up(leg, row)
        leg.log("hung up while waiting for the reservation: Hungup")
        raise
    if conf is None:
        return
    logged = log_transfer(leg, cid, conf)
    if not logged:
        return
    exten = leg.server.conference_exten(conf)
    leg.log(f"Transfer to {exten}@{leg.server.ext_context}")
    try:
        leg.channel.goto(leg.server.ext_context, exten)
        leg.channel.detach()             # into the conference now; the rest is bookkeeping
    finally:
        # the agent leg is in the room whether or not this channel made it in (it may hang
        # up on the way): VICIdial's leave-3way clean-up ends the room either way
        hangup.expect()
        vicidial.mark_conference_left(leg.conn, leg.server, conf, row["user"])
        if logged == OWED:      # the next `press3way cleanup` logs the Transfer
            store.leave_call(cid)
        store.delete_live(cid)


def leave_room(leg: Leg, row: dict | None, user: str) -> None:
    """The agent leg went into the room and this winner never follows: VICIdial's leave-3way
    clean-up kicks the lone leg and frees the room (never set free here: a channel of ours
    is in it)."""
    if row and row["session_id_3way"]:
        vicidial.mark_conference_left(leg.conn, leg.server, row["session_id_3way"], user)
        leg.log(f"conference {row['session_id_3way']} left to VICIdial's leave-3way clean-up")


def log_transfer(leg: Leg, cid: str, conf: str) -> str:
    """Log Transfer before going in: LOGGED or OWED when the party goes, '' when not. The
    agent leg is already on its way into the conference, so a log that cannot be written (a
    backup's lock) does not keep the party out: the live row stays TRANSFER and `press3way
    cleanup` logs it."""
    try:
        if leg.store.mark_transfer(cid, conf):
            return LOGGED
    except DatabaseError as exc:
        leg.log.error(f"Transfer not logged ({exc}); going in, `press3way cleanup` logs it")
        return OWED
    agent_gone(leg, cid, "the call was ended before the transfer")   # the agent leg gave up
    return ""


LOGGED, OWED = "logged", "owed"


def notify_agent_leg(leg: Leg, cid: str) -> None:
    """Wake the agent leg at once (an AMI UserEvent); without it, it reads the batch soon."""
    try:
        leg.channel.exec("UserEvent", f"{ev.WIN_NOTICE},Call: {cid}")
    except AgiError as exc:
        leg.log.error(f"could not notify the agent leg: {exc}")


def wait_for_reservation(leg: Leg, cid: str, timeout_s: int) -> str | None:
    """Read the live row until the agent leg, having reserved a conference (RESERVED), is on
    its way into it (TRANSFER); the conference, or None once Agent Gone was logged."""
    deadline = time.monotonic() + timeout_s
    next_tone = time.monotonic() + HOLD_TONE_EVERY_S
    poll, reserved = FIRST_POLL_S, False
    leg.channel.wait(poll)               # the agent leg has only just been told
    while True:
        row = leg.store.live_call(cid)
        if row is None or row["agent_gone"]:
            agent_gone(leg, cid, "live row removed" if row is None else "heartbeat stale")
            return None
        if row["status"] == cs.S_TRANSFER and row["session_id_3way"]:
            return row["session_id_3way"]
        if row["status"] not in cs.WON:       # ended otherwise meanwhile: nothing to wait for
            leg.log(f"the call left {cs.S_ACCEPTED} meanwhile ({row['status']}); not waiting")
            return None
        if row["status"] == cs.S_RESERVED:     # the agent leg is a few milliseconds away...
            poll = HANDOVER_POLL_S
            if not reserved:                   # ...unless its database is slow: wait then
                reserved = True
                deadline = max(deadline, time.monotonic() + HANDOVER_GRACE_S)
        now = time.monotonic()
        if now >= deadline:
            # only if the agent leg has not reserved meanwhile (a reservation seen now earns
            # it the grace; one seen before and not handed over since has had it)
            if leg.store.move(cid, "stop_waiting_reserved" if reserved else "stop_waiting"):
                agent_gone(leg, cid, f"no reservation within {timeout_s} s")
                return None
            continue
        if now >= next_tone and not leg.channel.playing:
            leg.channel.start_sound("hold_tone")
            next_tone = now + HOLD_TONE_EVERY_S
        leg.channel.wait(min(poll, max(deadline - now, 0.0)))
        poll = min(poll * 1.5, MAX_POLL_S)


STAGES = {"answered": answered, "accepted": accepted, "declined": declined, "hungup": hungup}
# Run from t, i and h, where the dialplan already buzzes and hangs up: never send them to i,
# which runs `declined` itself.
ENDING_STAGES = ("declined", "hungup")


def _on_failure(leg: Leg | None, channel: Channel) -> None:
    if leg is None or leg.stage not in ENDING_STAGES:
        channel.goto_invalid()


def main(make_channel: Callable[[], Channel] = Channel) -> int:
    return runner.run(SCRIPT, flow, _on_failure, make_channel, ENDING_STAGES)
