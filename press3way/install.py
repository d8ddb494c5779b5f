"""Put press3way on a VICIdial server and take it off again: the two AGI scripts in agi-bin,
the feature tables, and the dialplan block (in a file or in VICIdial's System Settings)."""

from __future__ import annotations

import os
import sys
import sysconfig
from typing import Callable, Protocol

import pymysql

from . import db, dialplan, migrate, vicidial
from .config import Config

SCRIPTS = ("agi-3way_press_agent.agi", "agi-3way_press_outside.agi")
DEFAULT_DIALPLAN_FILE = "/etc/asterisk/extensions_custom.conf"
BACKUP = ".press3way-backup"     # a script of the same name that was not ours is kept as this
Echo = Callable[[str], None]


class InstallError(Exception):
    """Something on this server stops the install; the message says what to do."""


# --- the AGI scripts -----------------------------------------------------------------------
def script_copy(name: str) -> str:
    """The script as shipped, its #! line pointing at this interpreter, which has the package."""
    with open(os.path.join(os.path.dirname(__file__), "data", name), encoding="utf-8") as f:
        body = f.read().split("\n", 1)[1]
    return f"#!{sys.executable}\n{body}"


def installed_script(name: str) -> str:
    """The script pip put in this environment's scripts directory (its #! already right)."""
    dirs = [os.path.dirname(sys.executable), sysconfig.get_path("scripts"),
            sysconfig.get_path("scripts", f"{os.name}_user")]
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise InstallError(f"{name} is not in {' or '.join(dict.fromkeys(dirs))}: "
                       "reinstall the package with pip, or install copies (without --link)")


def is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"from press3way" in f.read(4096)
    except OSError:
        return False


def install_scripts(agi_dir: str, link: bool, dry_run: bool, echo: Echo) -> None:
    if not os.path.isdir(agi_dir):
        raise InstallError(f"the agi-bin directory {agi_dir} does not exist: set PATHagi in "
                           "astguiclient.conf or pass --agi-dir")
    would = "would " if dry_run else ""
    for name in SCRIPTS:
        target = os.path.join(agi_dir, name)
        if link:
            source = installed_script(name)
            current = os.path.islink(target) and os.readlink(target) == source
        else:
            text = script_copy(name)
            current = (not os.path.islink(target) and os.access(target, os.X_OK)
                       and _read(target) == text)
        if current:
            echo(f"  {name}: up to date")
            continue
        if os.path.lexists(target) and not is_ours(target):
            echo(f"  {name}: {would}keep the script already there (not ours) as {name}{BACKUP}")
            if not dry_run:
                os.replace(target, target + BACKUP)
        echo(f"  {name}: {would}" + (f"link to {source}" if link
                                      else f"copy, executable, run by {sys.executable}"))
        if dry_run:
            continue
        temporary = f"{target}.press3way-new"
        if os.path.lexists(temporary):
            os.remove(temporary)
        if link:
            os.symlink(source, temporary)
        else:
            with open(temporary, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(temporary, 0o755)
        os.replace(temporary, target)


def remove_scripts(agi_dir: str, dry_run: bool, echo: Echo) -> None:
    would = "would " if dry_run else ""
    for name in SCRIPTS:
        target = os.path.join(agi_dir, name)
        if not os.path.lexists(target):
            echo(f"  {name}: not there")
            continue
        if not is_ours(target):
            echo(f"  {name}: not press3way's; left alone")
            continue
        echo(f"  {name}: {would}remove")
        if not dry_run:
            os.remove(target)
        if os.path.lexists(target + BACKUP):
            echo(f"  {name}: {would}put back the script that was there before")
            if not dry_run:
                os.replace(target + BACKUP, target)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            return f.read()
    except OSError:
        return None


# --- where the dialplan block goes -------------------------------------------------------
class DialplanTarget(Protocol):
    label: str
    reload_hint: str

    def read(self) -> str: ...
    def write(self, text: str) -> None: ...


class DialplanFile:
    """A file Asterisk includes (read and written byte for byte)."""

    def __init__(self, path: str):
        self.path = path
        self.label = path
        self.reload_hint = 'asterisk -rx "dialplan reload"'

    def read(self) -> str:
        return _read(self.path) or ""

    def write(self, text: str) -> None:
        # In place, so the file keeps its owner and mode.
        with open(self.path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(text)


class VicidialDialplan:
    """System Settings' Custom Dialplan Entry; VICIdial rebuilds and reloads the dialplan."""

    def __init__(self, conn: pymysql.Connection):
        self.conn = conn
        self.label = "VICIdial System Settings, Custom Dialplan Entry"
        self.reload_hint = ("nothing: VICIdial's keepalive (ADMIN_keepalive_ALL.pl, every "
                            "minute) rebuilds the dialplan and reloads it on every server")

    def read(self) -> str:
        return vicidial.custom_dialplan(self.conn)

    def write(self, text: str) -> None:
        vicidial.set_custom_dialplan(self.conn, text)


def dialplan_target(cfg: Config, dialplan_file: str | None, use_vicidial: bool) -> DialplanTarget:
    if use_vicidial:
        return VicidialDialplan(db.connect(cfg))
    return DialplanFile(dialplan_file or DEFAULT_DIALPLAN_FILE)


# --- the commands -------------------------------------------------------------------------
def install(cfg: Config, agi_dir: str, target: DialplanTarget, link: bool, dry_run: bool,
            echo: Echo) -> None:
    """Scripts, tables, dialplan. The dialplan is judged first, so a conflict changes nothing."""
    would = "would " if dry_run else ""
    before = target.read()
    after = dialplan.insert(before, dialplan.block(dialplan.source_text()))
    echo(f"[1/3] AGI scripts in {agi_dir}")
    install_scripts(agi_dir, link, dry_run, echo)
    echo(f"[2/3] Tables in database {cfg.db_name} on {cfg.db_host}")
    conn = db.connect(cfg)
    try:
        migrate.migrate(conn, echo, dry_run)
    finally:
        conn.close()
    echo(f"[3/3] Dialplan block in {target.label}")
    if after == before:
        echo("  already there; unchanged")
    else:
        echo(f"  {would}" + ("update our block in place" if dialplan.find(before)
                             else "append our block at the end"))
        if not dry_run:
            target.write(after)
    echo(f"Next: reload the dialplan: {target.reload_hint}; then run `press3way check`.")


def uninstall(agi_dir: str, target: DialplanTarget, dry_run: bool, echo: Echo) -> None:
    """Our dialplan block and our scripts go; the tables and their rows stay."""
    would = "would " if dry_run else ""
    echo(f"[1/2] Dialplan block in {target.label}")
    before = target.read()
    if dialplan.find(before) is None:
        echo("  not there")
    else:
        echo(f"  {would}remove our block")
        if not dry_run:
            target.write(dialplan.remove(before))
    echo(f"[2/2] AGI scripts in {agi_dir}")
    remove_scripts(agi_dir, dry_run, echo)
    echo("The feature tables and their rows are left in place.")
    echo(f"Next: reload the dialplan: {target.reload_hint}.")
