"""How the installed block runs our two scripts: a process per AGI step (the scripts in
agi-bin), or the FastAGI server on 127.0.0.1:PORT (`press3way fastagi`, under systemd).

The mode lives in the block itself (its AGI() calls), so `install` keeps it across upgrades
and `check` reads it back; a block in either mode is current. Pointing the dialplan at a port
where nothing answers breaks every call, so the server is probed and the fix spelled out.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
from dataclasses import dataclass
from typing import Sequence

from ..fastagi import DEFAULT_PORT
from ..fastagi.dialplan_urls import fastagi_port, to_fastagi
from . import block
from .results import Result

UNIT = "press3way-fastagi.service"
UNIT_DIR = "/etc/systemd/system"
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Mode:
    port: int | None = None                 # None: a process per AGI step

    def block(self, dial_contexts: Sequence[str] = (block.DIAL_CONTEXT,)) -> str:
        """Our block as this mode installs it, reached from these contexts."""
        ours = block.ours(dial_contexts)
        return ours if self.port is None else to_fastagi(ours, self.port)

    def describe(self) -> str:
        if self.port is None:
            return "per-call scripts (a process per AGI step, from agi-bin)"
        return f"FastAGI, agi://127.0.0.1:{self.port}/ (the press3way fastagi server)"


PER_CALL = Mode()


def of(text: str) -> Mode:
    """The mode of our block in a dialplan text (per-call when the block is not there)."""
    found = block.find(text)
    return Mode(fastagi_port(text[found[0]:found[1]]) if found else None)


def wanted(current: Mode, fastagi: bool | None, port: int | None) -> Mode:
    """The mode an install leaves: the one asked for, else the one installed (an upgrade must
    not quietly move a FastAGI site back to per-call scripts). `--fastagi` without a port
    keeps the installed port."""
    if fastagi is None:
        return current
    if not fastagi:
        return PER_CALL
    return Mode(port or current.port or DEFAULT_PORT)


def probe(port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why nothing takes a connection on 127.0.0.1:`port`, or None. (The server lets a peer
    that closes without a word go quietly, so probing leaves no line in its journal.)"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def start_fix(port: int) -> str:
    """The exact commands that start the server on `port` under systemd, for this install
    (the unit's ExecStart pointed at this virtualenv's press3way)."""
    command = os.path.join(os.path.dirname(sys.executable), "press3way")
    shipped = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", UNIT)
    unit = os.path.join(UNIT_DIR, UNIT)
    exec_start = f"ExecStart={command} fastagi --port {port}"
    return (f"`systemctl start {UNIT}` if its unit is installed (with --port {port} in its "
            "ExecStart); if not: "
            f"`sed {shlex.quote(f's|^ExecStart=.*|{exec_start}|')} {shlex.quote(shipped)} "
            f"> {unit} && systemctl daemon-reload && systemctl enable --now {UNIT}`")


def server_result(port: int) -> Result:
    """`check`'s line for the server the block asks for."""
    item = f"FastAGI server on 127.0.0.1:{port}"
    why = probe(port)
    if why is None:
        return Result(item, True, "accepts connections")
    return Result(item, False, f"nothing answers ({why}), so every 3-way press-1 call fails: "
                               f"start it: {start_fix(port)}; or switch the dialplan back: "
                               "`press3way install --per-call` (with the same "
                               "--dialplan-file/--vicidial)")
