"""Dialstrings, phone lists and call ids: the text the agent leg turns into outside calls."""

from __future__ import annotations

import re
import time

FEATURE_PREFIX = "49907"
DIALSTRING_MAX = 28            # vicidial_3way_press_*.dialstring VARCHAR(28)
PHONE_DIGITS = 10              # the phone number is the dialstring's last 10 digits
MULTI_MAX = 10
_DIALSTRING = re.compile(r"^[0-9*#]+$")
_PHONE = re.compile(r"^[0-9]{5,18}$")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_INDEX_LETTERS = "ABCDEFGHIJ"       # one per call of a batch (MULTI_MAX)


def dialstring_from_extension(extension: str) -> str:
    """`49907917275551212` -> `917275551212`; anything but digits, * and # is refused."""
    if not extension.startswith(FEATURE_PREFIX):
        raise ValueError(f"extension {extension[:40]!r} does not start with {FEATURE_PREFIX}")
    dialstring = extension[len(FEATURE_PREFIX):]
    if not _DIALSTRING.match(dialstring):
        raise ValueError(f"dialstring {dialstring[:40]!r} may hold only digits, * and #")
    if len(dialstring) > DIALSTRING_MAX:
        raise ValueError(f"dialstring of {len(dialstring)} characters is longer than "
                         f"{DIALSTRING_MAX}")
    return dialstring


def split_dialstring(dialstring: str) -> tuple[str, str]:
    """(prefix, phone number): the number is the last 10 digits, the rest is dial prefix."""
    return dialstring[:-PHONE_DIGITS], dialstring[-PHONE_DIGITS:]


def _item_problem(item: str, seen: set[str] | list[str]) -> str:
    """Why a multi-call item is not a number to dial ('' when it is): 5 to 18 digits, and
    not a repeat (VICIdial's agent API keeps only those)."""
    if not _PHONE.match(item):
        return f"{item[:30]!r} is not 5 to 18 digits"
    if item in seen:
        return f"{item} appears twice"
    return ""


def _items(text: str) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def phone_list(text: str) -> list[str]:
    """A multi-call list armed by `press3way multi`: at most 10 numbers of 5 to 18 digits,
    no duplicates.

    Raises ValueError naming every bad item, so the admin sees them all.
    """
    items = _items(text)
    problems = []
    if not items:
        problems.append("no phone numbers")
    if len(items) > MULTI_MAX:
        problems.append(f"{len(items)} numbers, at most {MULTI_MAX} allowed")
    seen: set[str] = set()
    for item in items:
        if problem := _item_problem(item, seen):
            problems.append(problem)
        seen.add(item)
    if problems:
        raise ValueError("bad phone list: " + "; ".join(problems))
    return items


def multi_dial(dialstring: str, text: str) -> tuple[str, list[str], list[str]]:
    """A claimed multi-call list as the agent leg dials it: (prefix, numbers, not dialled).

    The prefix is the dialstring minus as many trailing characters as the list's first number
    has (VICIdial's rule: the number after the prefix is a placeholder of that length). The
    first MULTI_MAX valid numbers are dialled; every other item is named with its reason, so
    one bad item never costs the rest of the batch.
    """
    items = _items(text)
    first = next((item for item in items if _PHONE.match(item)), "")
    prefix = dialstring[:-len(first)] if first else dialstring
    numbers: list[str] = []
    skipped: list[str] = []
    for item in items:
        problem = _item_problem(item, numbers)
        if not problem and len(prefix) + len(item) > DIALSTRING_MAX:
            problem = f"{prefix}{item} is longer than {DIALSTRING_MAX} characters"
        if not problem and len(numbers) == MULTI_MAX:
            problem = f"{item} is past the first {MULTI_MAX} numbers"
        if problem:
            skipped.append(problem)
        else:
            numbers.append(item)
    return prefix, numbers, skipped


def call_ids(lead_id: int, count: int, now: float | None = None) -> list[str]:
    """`T` + time stamp + index letter + lead zero-padded to 10: 20 characters, unique per call.

    The stamp is the time in centiseconds, base 36 (8 characters), so ids never repeat for a
    lead and fit VICIdial's VARCHAR(20) columns (the reference's 22-23 were truncated). The
    call's index in its batch is a letter (A-J), so an id is never `T` + 19 digits, whatever
    the clock says: VICIdial's call logger (FastAGI_log.pl) writes its own `Hungup` into the
    log of any call id of that shape, the Perl version's.
    """
    if count > MULTI_MAX:
        raise ValueError(f"at most {MULTI_MAX} calls per batch")
    ticks = int((time.time() if now is None else now) * 100)
    stamp = ""
    for _ in range(8):
        ticks, digit = divmod(ticks, 36)
        stamp = _BASE36[digit] + stamp
    return [f"T{stamp}{_INDEX_LETTERS[index]}{lead_id:010d}" for index in range(count)]


def channel_ids(count: int, now: float | None = None) -> list[tuple[str, str]]:
    """Uniqueids for the two halves of each outside call's Local channel (Originate's
    ChannelId and OtherChannelId), so a still-ringing call can be hung up by its id.

    Shaped like Asterisk's own, `<epoch>.<n>`, and 20 characters at most: VICIdial keeps
    uniqueids in VARCHAR(20) columns and reads the epoch from them. n is `9` + the
    microsecond + the call's index + the half, far above Asterisk's own counter.
    """
    if count > MULTI_MAX:
        raise ValueError(f"at most {MULTI_MAX} calls per batch")
    stamp = time.time() if now is None else now
    seconds = int(stamp)
    micro = int((stamp - seconds) * 1_000_000)
    return [(f"{seconds}.9{micro:06d}{index}1", f"{seconds}.9{micro:06d}{index}2")
            for index in range(count)]
