"""Where the dialplan block goes: a file Asterisk includes, or VICIdial's System Settings >
Custom Dialplan Entry (which VICIdial writes into every server's extensions-vicidial.conf)."""

from __future__ import annotations

import os
import re
import time
from typing import Callable

import pymysql

from ..database import execute, query
from . import block, landing
from .files import Changes, writable_problem

DEFAULT_ASTERISK_DIR = "/etc/asterisk"
DEFAULT_DIALPLAN_FILE = "extensions_custom.conf"
VICIDIAL_FILE = "extensions-vicidial.conf"
VICIDIAL_CONTEXT = "vicidial-auto-system-setting-custom"
# What the admin page's "Reload Dialplan On Servers" does on submit: a new reload time, and a
# conf rebuild on every server that runs Asterisk and has VICIdial write its conf files.
_REBUILT_SERVERS = ("active = 'Y' AND active_asterisk_server = 'Y' "
                    "AND generate_vicidial_conf = 'Y'")
_RELOAD_SERVERS = f"UPDATE servers SET rebuild_conf_files = 'Y' WHERE {_REBUILT_SERVERS}"
_NEEDED_COLUMNS = {"system_settings": ("custom_dialplan_entry", "reload_timestamp"),
                   "servers": ("active", "active_asterisk_server", "generate_vicidial_conf",
                               "rebuild_conf_files")}


def backup_name(path: str) -> str:
    return f"{path}.press3way-backup-{time.strftime('%Y%m%d-%H%M%S')}"


# A context name we write into the dialplan as it is (servers.ext_context is the admin's).
_CONTEXT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def dial_contexts(conn: pymysql.Connection, where: str, params: tuple = ()) -> tuple[str, ...]:
    """The ext_context of the servers `where` selects: where VICIdial originates the agent's
    3-way call on each (`default` on a stock server; the block is reached from each)."""
    rows = query(conn, f"SELECT DISTINCT ext_context FROM servers WHERE {where} "
                       "ORDER BY ext_context", params)
    contexts = [r["ext_context"] or block.DIAL_CONTEXT for r in rows]
    bad = [c for c in contexts if not _CONTEXT_NAME.match(c)]
    if bad:
        raise block.DialplanError(f"servers.ext_context {bad[0][:80]!r} is not a context name "
                                  "press3way writes into the dialplan (letters, digits, _ . -)")
    return tuple(block.with_default(contexts))


class DialplanFile:
    """A dialplan file (read and written byte for byte, replaced atomically), reached from
    the contexts `contexts()` gives (this server's ext_context)."""

    def __init__(self, path: str, asterisk_dir: str,
                 contexts: Callable[[], tuple[str, ...]] = lambda: (block.DIAL_CONTEXT,)):
        self.path = os.path.abspath(path)
        self.asterisk_dir = asterisk_dir
        self._contexts = contexts
        self._known: tuple[str, ...] | None = None
        self.label = self.path
        self.reload_hint = 'asterisk -rx "dialplan reload"'

    def read(self) -> str:
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape", newline="") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def problems(self, new_bytes: int) -> list[str]:
        problem = writable_problem(os.path.dirname(os.path.realpath(self.path)), new_bytes)
        return [problem] if problem else []

    def stage(self, changes: Changes, text: str) -> None:
        """Through a symlink, the file it points at changes (the link stays)."""
        changes.write(os.path.realpath(self.path), text.encode("utf-8", "surrogateescape"))

    def apply(self, text: str) -> None:
        """Nothing left to do: the staged file is the change."""

    def future_files(self, before: str, after: str) -> dict[str, str]:
        """The dialplan files as they will be: this one with its new text."""
        return {self.path: after}

    def dial_contexts(self) -> tuple[str, ...]:
        if self._known is None:
            self._known = self._contexts()
        return self._known

    def warnings(self) -> list[str]:
        return []

    def backup_path(self) -> str:
        return backup_name(self.path)

    def not_loaded_fix(self) -> str:
        include = os.path.relpath(self.path, self.asterisk_dir)
        if include.startswith(".."):
            include = self.path
        return (f"{self.path} is not #included from {self.asterisk_dir}/{landing.MAIN}, so "
                f"Asterisk never reads it: add the line `#include {include}` at the end of "
                f"{self.asterisk_dir}/{landing.MAIN}, then {self.reload_hint}")

    def outdated_fix(self) -> str:
        return "run `press3way install` again"


class VicidialDialplan:
    """System Settings' Custom Dialplan Entry; VICIdial rebuilds and reloads the dialplan."""

    def __init__(self, conn: pymysql.Connection, asterisk_dir: str):
        self.conn = conn
        self.asterisk_dir = asterisk_dir
        self.label = "VICIdial System Settings, Custom Dialplan Entry"
        self.reload_hint = ("nothing: VICIdial's keepalive (ADMIN_keepalive_ALL.pl, every "
                            "minute) rebuilds the dialplan and reloads it on every server")

    def read(self) -> str:
        rows = query(self.conn, "SELECT custom_dialplan_entry FROM system_settings LIMIT 1")
        return (rows[0]["custom_dialplan_entry"] or "") if rows else ""

    def problems(self, new_bytes: int) -> list[str]:
        out = []
        for table, columns in _NEEDED_COLUMNS.items():
            have = {r["c"] for r in query(
                self.conn, "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS "
                           "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (table,))}
            missing = [c for c in columns if c not in have]
            if missing:
                out.append(f"{table} has no column {', '.join(missing)}: this is not a VICIdial "
                           "database (check VARDB_database), or VICIdial is older than 2.14")
        if not out and not query(self.conn, "SELECT 1 FROM system_settings LIMIT 1"):
            out.append("system_settings has no row: is this a VICIdial database?")
        return out

    def stage(self, changes: Changes, text: str) -> None:
        """Nothing to stage: the entry is written by `apply`, after the files."""

    def apply(self, text: str) -> None:
        """Store the entry and ask for the reload, as the admin page does on submit."""
        execute(self.conn, "UPDATE system_settings SET custom_dialplan_entry = %s, "
                           "reload_timestamp = NOW()", (text,))
        execute(self.conn, _RELOAD_SERVERS)

    def backup_path(self) -> str:
        return backup_name(os.path.join(self.asterisk_dir, "custom_dialplan_entry"))

    def dial_contexts(self) -> tuple[str, ...]:
        """Every server VICIdial writes the entry for: the block is reached from each one's
        ext_context."""
        return dial_contexts(self.conn, _REBUILT_SERVERS)

    def warnings(self) -> list[str]:
        """With Allow Custom Dialplan Entries off, the admin page saves the entry empty
        (admin.php 44858-44867): the next save of System Settings removes our block."""
        rows = query(self.conn, "SELECT allow_custom_dialplan AS a FROM system_settings LIMIT 1") \
            if self._has_column("system_settings", "allow_custom_dialplan") else []
        if rows and str(rows[0]["a"]) == "0":
            return ["System Settings' Allow Custom Dialplan Entries is 0, so the admin page "
                    "saves the Custom Dialplan Entry empty: the next save of System Settings "
                    "removes the block; set it to 1 (Admin > System Settings)"]
        return []

    def _has_column(self, table: str, column: str) -> bool:
        return bool(query(self.conn, "SELECT 1 FROM information_schema.COLUMNS WHERE "
                                     "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND "
                                     "COLUMN_NAME = %s", (table, column)))

    def future_files(self, before: str, after: str) -> dict[str, str]:
        """extensions-vicidial.conf as VICIdial's next rebuild writes it (nothing when the
        file is not there or does not hold the entry as it is now)."""
        generated = os.path.join(self.asterisk_dir, VICIDIAL_FILE)
        try:
            with open(generated, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError:
            return {}
        future = rebuilt(text, before, after)
        return {} if future is None else {generated: future}

    def reload_pending(self) -> bool:
        return bool(query(self.conn, "SELECT 1 FROM servers WHERE rebuild_conf_files = 'Y' "
                                     "AND active = 'Y' LIMIT 1"))

    def not_loaded_fix(self) -> str:
        generated = os.path.join(self.asterisk_dir, VICIDIAL_FILE)
        try:
            with open(generated, encoding="utf-8", errors="replace") as f:
                has_block = block.find(f.read()) is not None
        except (OSError, block.DialplanError):
            has_block = False
        if has_block:
            return (f"{generated} has the block but {self.asterisk_dir}/{landing.MAIN} does not "
                    f"#include it: add the line `#include {VICIDIAL_FILE}` (VICIdial's stock "
                    f"{landing.MAIN} has it right after [globals])")
        return self.outdated_fix()

    def outdated_fix(self) -> str:
        generated = os.path.join(self.asterisk_dir, VICIDIAL_FILE)
        if self.reload_pending():
            return (f"not yet in {generated}: VICIdial's keepalive rebuilds it within a minute "
                    "(servers.rebuild_conf_files is 'Y'); run check again then")
        return (f"not in {generated} although VICIdial rebuilt it: run `press3way install "
                "--vicidial` again, and check that ADMIN_keepalive_ALL.pl runs from cron and "
                "this server has generate_vicidial_conf = 'Y'")


# --- extensions-vicidial.conf as the keepalive writes it -------------------------------
# ADMIN_keepalive_ALL.pl writes the entry, only when it is longer than 5 characters, after
# VICIdial's own contexts: its context header, the `h` line it opens every generated context
# with, a comment, the entry, a blank line; then the Server Custom Dialplan's context (if any)
# or the carriers'. `[vicidial-auto]` includes the entry's context only when it is written.
_HEADER = f"[{VICIDIAL_CONTEXT}]\n"
_COMMENT = "; System Setting Custom Dialplan\n"
_INCLUDE = f"include => {VICIDIAL_CONTEXT}\n"
_NEXT_HEADERS = ("[vicidial-auto-server-custom]\n", "[vicidial-auto-external]\n")
_INCLUDES_BEFORE = ("include => vicidial-auto-server-custom\n",
                    "include => vicidial-auto-external\n")


def written(entry: str) -> bool:
    """Whether the keepalive writes this entry at all."""
    return len(entry) > 5


def _line_at(text: str, line: str, after: int = 0) -> int:
    """Where `line` starts a line of the text (-1: nowhere)."""
    at = text.find(line, after)
    while at > 0 and text[at - 1] != "\n":
        at = text.find(line, at + 1)
    return at


def _section(text: str, entry: str) -> tuple[int, int, str] | None:
    """(start, end, the h line) of the entry's section as the keepalive wrote it; start ==
    end where it would go when the entry is not written. None: the file does not match."""
    header = _line_at(text, _HEADER)
    if not written(entry):
        if header >= 0:
            return None
        at = next((a for a in (_line_at(text, h) for h in _NEXT_HEADERS) if a >= 0), -1)
        if at < 0:
            return None
        hangup_start = text.find("\n", at) + 1
        return at, at, text[hangup_start:text.find("\n", hangup_start) + 1]
    if header < 0:
        return None
    hangup_start = header + len(_HEADER)
    comment = text.find("\n", hangup_start) + 1
    body = comment + len(_COMMENT)
    if not comment or not text.startswith(_COMMENT, comment) \
            or not text.startswith(entry + "\n\n", body):
        return None
    return header, body + len(entry) + 2, text[hangup_start:comment]


def rebuilt(text: str, before: str, after: str) -> str | None:
    """extensions-vicidial.conf as the keepalive rebuilds it with the entry `after`, from the
    file it wrote with the entry `before`; None when the file does not hold `before` as the
    keepalive writes it."""
    section = _section(text, before)
    if section is None:
        return None
    start, end, hangup = section
    new = f"{_HEADER}{hangup}{_COMMENT}{after}\n\n" if written(after) else ""
    text = text[:start] + new + text[end:]
    if written(before) and not written(after):
        at = _line_at(text, _INCLUDE)
        return text[:at] + text[at + len(_INCLUDE):] if at >= 0 else text
    if written(after) and not written(before):
        for line in _INCLUDES_BEFORE:
            at = _line_at(text, line)
            if at >= 0:
                return text[:at + len(line)] + _INCLUDE + text[at + len(line):]
    return text
