"""Event names of the log's `result` text (docs/behaviour.md, "Events"); the live row's
statuses are in `callstate`.

VICIdial's report and lead page count rows whose result contains these words: never rename them.
"""

from __future__ import annotations

STARTED = "Started"
ANSWERED = "Answered"
ACCEPTED = "Accepted"
RESERVED = "Reserved"
TRANSFER = "Transfer"
DECLINED = "Declined"
TOO_SLOW = "Too Slow"
DEFEATED = "Defeated"
HUNGUP = "Hungup"
AGENT_GONE = "Agent Gone"
TIMEOUT = "Timeout"

ALL = (STARTED, ANSWERED, ACCEPTED, RESERVED, TRANSFER, DECLINED, TOO_SLOW, DEFEATED,
       HUNGUP, AGENT_GONE, TIMEOUT)
# Exactly one of these ends every started call; nothing is appended after it.
TERMINAL = (TRANSFER, DECLINED, TOO_SLOW, DEFEATED, HUNGUP, AGENT_GONE, TIMEOUT)

# The AMI UserEvent a winning outside leg sends, so the agent leg wakes without polling.
WIN_NOTICE = "Press3wayWon"

SEPARATOR = "|"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_result(text: str | None) -> list[tuple[str, str]]:
    """Split `Started: 2026-01-01 10:00:00|Answered: ...` into (event, time) pairs."""
    pairs = []
    for part in (text or "").split(SEPARATOR):
        event, sep, when = part.partition(": ")
        if sep:
            pairs.append((event.strip(), when.strip()))
    return pairs


def terminal_event(text: str | None) -> str | None:
    """The terminal event of a result text, if the call has ended."""
    for event, _ in parse_result(text):
        if event in TERMINAL:
            return event
    return None


def is_successful(text: str | None) -> bool:
    """Reports show a row as successful (black) when it contains Transfer."""
    return TRANSFER in (text or "")
