"""How the installed block runs our two scripts: a process per AGI step (the scripts in
agi-bin), or the FastAGI server on 127.0.0.1:PORT (`press3way fastagi`, under systemd).

The mode lives in the block itself (its AGI() calls), so `install` keeps it across upgrades
and `check` reads it back; a block in either mode is current. Pointing the dialplan at a port
where our server does not answer breaks every call (or hands it to another program), so the
port is probed and the fix spelled out: the probe speaks FastAGI and wants our server's own
answer (`fastagi.request.probe`), and the listening socket must belong to Asterisk's user or
root, so neither VICIdial's FastAGI_log.pl nor a program another local user started on the
port while our server was down is ever taken for it.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from typing import Sequence

from ..fastagi import DEFAULT_PORT, VICIDIAL_PORT, peers, request, vicidial_port_error
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
    keeps the installed port, unless it is VICIdial's (an old default of ours)."""
    if fastagi is None:
        return current
    if not fastagi:
        return PER_CALL
    kept = current.port if current.port != VICIDIAL_PORT else None
    return Mode(port or kept or DEFAULT_PORT)


def probe(port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why 127.0.0.1:`port` is not our FastAGI server, or None. (The server answers the
    probe without a line in its journal.)"""
    ours, why = request.probe(port, timeout)
    if not ours:
        return why
    uid = peers.listener_uid("127.0.0.1", port)
    if uid is not None and uid not in peers.accepted_uids():
        return (f"it answers as press3way's server but its socket is {peers.name_of(uid)}'s, "
                "neither Asterisk's user nor root: stop that program")
    return None


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
    if port == VICIDIAL_PORT:
        return Result(item, False, f"{vicidial_port_error(port)}; every 3-way press-1 call goes "
                                   "to VICIdial's logger: `press3way install --fastagi --port "
                                   f"{DEFAULT_PORT}` (with the same --dialplan-file/--vicidial)")
    why = probe(port)
    if why is None:
        return Result(item, True, "press3way's server answers its probe")
    return Result(item, False, f"{why}, so every 3-way press-1 call fails: "
                               f"start it: {start_fix(port)}; or switch the dialplan back: "
                               "`press3way install --per-call` (with the same "
                               "--dialplan-file/--vicidial)")
