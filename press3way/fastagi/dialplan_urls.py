"""The dialplan switch between modes: `AGI(agi-3way_press_outside.agi,...)` runs a process per
call, `AGI(agi://127.0.0.1:4578/agi-3way_press_outside.agi,...)` asks the FastAGI server.
Only our two scripts' AGI() calls change; the arguments and everything else stay."""

from __future__ import annotations

import re

from . import DEFAULT_PORT

ASTERISK_DEFAULT_PORT = 4573       # what Asterisk connects to for agi://host/ without a port
SCRIPTS = r"agi-3way_press_(?:agent|outside)\.agi"
_PER_CALL = re.compile(rf"\bAGI\(({SCRIPTS})([,)])", re.IGNORECASE)
_FASTAGI = re.compile(rf"\bAGI\(agi://([^/,)\s]+)/({SCRIPTS})([,)])", re.IGNORECASE)


def to_fastagi(text: str, port: int = DEFAULT_PORT) -> str:
    """Every AGI() of our scripts through the FastAGI server on 127.0.0.1:`port`."""
    return _PER_CALL.sub(lambda m: f"AGI(agi://127.0.0.1:{port}/{m.group(1)}{m.group(2)}",
                         to_per_call(text))


def to_per_call(text: str) -> str:
    """Back to one process per call (the scripts in agi-bin)."""
    return _FASTAGI.sub(lambda m: f"AGI({m.group(2)}{m.group(3)}", text)


def fastagi_port(text: str) -> int | None:
    """The port our AGI() calls ask for (`check` probes it), or None: per-call scripts."""
    found = _FASTAGI.search(text)
    if found is None:
        return None
    _, _, port = found.group(1).rpartition(":")
    return int(port) if port.isdigit() else ASTERISK_DEFAULT_PORT
