"""Put press3way on a VICIdial server and take it off again: the two AGI scripts in agi-bin,
the feature tables, and the dialplan block (in a file or in VICIdial's System Settings).

All or nothing: every precondition (database, tables, directories, room, dialplan conflicts)
is judged before anything changes; the files are then staged beside their targets, the tables
completed, and the staged files renamed into place; the Custom Dialplan Entry comes last.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Union

from .. import database
from ..config import Config
from . import block, conf, landing, migrate, mode, scripts
from .files import Changes, FileChangeError, writable_problem
from .results import Result
from .targets import DEFAULT_DIALPLAN_FILE, DialplanFile, VicidialDialplan, dial_contexts

Echo = Callable[[str], None]
Target = Union[DialplanFile, VicidialDialplan]
MARGIN = 64 * 1024            # room left over on a file system after our files are written


class InstallError(Exception):
    """Something on this server stops the install; nothing was changed."""


def dialplan_target(cfg: Config, asterisk_dir: str, dialplan_file: str | None,
                    use_vicidial: bool) -> Target:
    if use_vicidial:
        return VicidialDialplan(database.connect(cfg), asterisk_dir)
    return DialplanFile(dialplan_file or os.path.join(asterisk_dir, DEFAULT_DIALPLAN_FILE),
                        asterisk_dir, lambda: _this_servers_contexts(cfg))


def _this_servers_contexts(cfg: Config) -> tuple[str, ...]:
    """Where VICIdial originates the agent's 3-way call on this server (read only when the
    block is built or judged: uninstalling a file needs no database)."""
    conn = database.connect(cfg)
    try:
        return dial_contexts(conn, "server_ip = %s", (cfg.server_ip,))
    finally:
        conn.close()


@dataclass
class DialplanChange:
    before: str
    after: str
    replaced_reference: bool
    was: mode.Mode                     # the mode of the block in `before` (per-call if none)
    now: mode.Mode
    ours: str                          # our block as `after` holds it

    @property
    def switched(self) -> bool:
        return self.was != self.now and block.find(self.before) is not None


def plan_dialplan(target: Target, replace_reference: bool,
                  fastagi: bool | None = None, port: int | None = None) -> DialplanChange:
    """The target's new text, in the mode asked for (`fastagi` None: the installed one);
    refuses (DialplanError) when the text shadows our lines."""
    before = target.read()
    was = mode.of(before)
    now = mode.wanted(was, fastagi, port)
    ours = now.block(target.dial_contexts())
    text = block.replace_reference(before, ours) if replace_reference else before
    return DialplanChange(before, block.insert(text, ours), text != before, was, now, ours)


def server_problem(change: DialplanChange) -> str | None:
    """Pointing the dialplan at a FastAGI port where nothing answers would fail every call:
    refused. (A block already on that port is left as it is, and `_after_install` says so.)"""
    port = change.now.port
    if port is None or change.now == change.was:
        return None
    why = mode.probe(port)
    if why is None:
        return None
    return (f"nothing answers on 127.0.0.1:{port} ({why}), so the dialplan is not pointed "
            f"there: start the FastAGI server first: {mode.start_fix(port)}; then run the "
            "install again")


def whole_dialplan_conflicts(target: Target, change: DialplanChange) -> list[str]:
    """What in the dialplan Asterisk will load once the target has its new text would keep
    the agent's dial from reaching our block."""
    future = target.future_files(change.before, change.after)
    loaded = conf.load(os.path.join(target.asterisk_dir, landing.MAIN), future)
    if not set(future) & set(loaded.texts):
        return []                     # not loaded (yet): said after the install, with the fix
    return [f"{r.item}: {r.detail}"
            for r in landing.judge(target.asterisk_dir, "", "", change.ours, loaded,
                                   target.dial_contexts())
            if r.ok is False and not r.item.startswith(landing.MISSING_INCLUDE)]


def install(cfg: Config, agi_dir: str, target: Target, link: bool, dry_run: bool,
            echo: Echo, replace_reference: bool = False, fastagi: bool | None = None,
            port: int | None = None) -> None:
    """`fastagi`: True for the FastAGI server on `port`, False for per-call scripts, None to
    keep the mode the installed block is in."""
    would = "would " if dry_run else ""
    conn = database.connect(cfg)
    try:
        tables = migrate.plan(conn)
        dialplan = plan_dialplan(target, replace_reference, fastagi, port)
        # The old files stay on disk until the renames (they are kept to undo a failed commit),
        # so the room needed is the new files' size.
        needed = scripts.bytes_needed(link) + MARGIN
        problems = ([p] if (p := writable_problem(agi_dir, needed)) else [])
        problems += target.problems(len(dialplan.after.encode("utf-8", "surrogateescape"))
                                    + MARGIN)
        if dialplan.replaced_reference:
            backup_dir = os.path.dirname(target.backup_path())
            if p := writable_problem(backup_dir, len(dialplan.before) + MARGIN):
                problems.append(f"backup of the reference's block: {p}")
        problems += whole_dialplan_conflicts(target, dialplan)
        if p := server_problem(dialplan):
            problems.append(p)
        if problems:
            raise InstallError("nothing was changed: " + "; ".join(problems))

        changes = Changes(dry_run)
        try:
            echo(f"[1/3] AGI scripts in {agi_dir}")
            scripts.stage_install(agi_dir, link, changes, would, echo)
            echo(f"[2/3] Tables in database {cfg.db_name} on {cfg.db_host}")
            for line in migrate.describe(tables, would):
                echo(line)
            echo(f"[3/3] Dialplan block in {target.label}")
            for warning in target.warnings():
                echo(f"  warning: {warning}")
            _stage_dialplan(target, dialplan, changes, would, echo)
            if dry_run:
                echo("Dry run: nothing was changed.")
                return
            migrate.apply(conn, tables)
            changes.commit(then=_store_if_changed(target, dialplan.before, dialplan.after))
            scripts.compile_package(echo)
        except FileChangeError as exc:
            raise InstallError(f"no file was changed: {exc}") from None
        finally:
            changes.discard()
    finally:
        conn.close()
    echo("Done.")
    _after_install(target, dialplan, echo)


def _store_if_changed(target: Target, before: str, after: str) -> Callable[[], None]:
    """The last step of a commit: the Custom Dialplan Entry (a file target is staged)."""
    def store() -> None:
        if after != before:
            target.apply(after)
    return store


def _stage_dialplan(target: Target, change: DialplanChange, changes: Changes, would: str,
                    echo: Echo) -> None:
    if change.after == change.before:
        echo(f"  already there; unchanged ({change.now.describe()})")
        return
    if change.replaced_reference:
        backup = target.backup_path()
        echo(f"  {would}keep the text as it was in {backup}")
        changes.write(backup, change.before.encode("utf-8", "surrogateescape"), 0o600)
        echo(f"  {would}replace the reference's (Perl) block with ours, where it was")
    elif change.switched:
        echo(f"  {would}switch our block's AGI() calls from {change.was.describe()} to "
             f"{change.now.describe()}")
    else:
        echo(f"  {would}" + ("update our block in place" if block.find(change.before)
                             else "append our block at the end")
             + f" ({change.now.describe()})")
    target.stage(changes, change.after)


def _after_install(target: Target, change: DialplanChange, echo: Echo) -> None:
    """Where the block lands now (a file target), whether its FastAGI server answers, and
    what is left to do."""
    now = change.now
    if isinstance(target, DialplanFile):
        for result in landing_results(target, change.ours):
            echo(result.line())
    if now.port is not None:
        echo(mode.server_result(now.port).line())
        if isinstance(target, VicidialDialplan):
            echo(f"Note: the Custom Dialplan Entry goes to every Asterisk server VICIdial "
                 f"rebuilds: each one needs its own FastAGI server on 127.0.0.1:{now.port}.")
    echo(f"Next: reload the dialplan: {target.reload_hint}; then run `press3way check`.")


def uninstall(agi_dir: str, target: Target, dry_run: bool, echo: Echo) -> None:
    """Our dialplan block and our scripts go; the tables and their rows stay."""
    would = "would " if dry_run else ""
    before = target.read()
    after = block.remove(before)
    problems = ([p] if (p := writable_problem(agi_dir, MARGIN)) else [])
    if after != before:
        problems += target.problems(len(after.encode("utf-8", "surrogateescape")) + MARGIN)
    if problems:
        raise InstallError("nothing was changed: " + "; ".join(problems))
    changes = Changes(dry_run)
    try:
        echo(f"[1/2] Dialplan block in {target.label}")
        if after == before:
            echo("  not there")
        else:
            echo(f"  {would}remove our block")
            target.stage(changes, after)
        echo(f"[2/2] AGI scripts in {agi_dir}")
        scripts.stage_remove(agi_dir, changes, would, echo)
        if dry_run:
            echo("Dry run: nothing was changed.")
            return
        changes.commit(then=_store_if_changed(target, before, after))
    except FileChangeError as exc:
        raise InstallError(f"nothing was changed: {exc}") from None
    finally:
        changes.discard()
    echo("The feature tables and their rows are left in place.")
    echo(f"Next: reload the dialplan: {target.reload_hint}.")
    if (port := mode.of(before).port) is not None:
        echo(f"Then the FastAGI server on 127.0.0.1:{port} has no more calls: "
             f"`systemctl disable --now {mode.UNIT}`.")


ADMIN_ERRORS = (database.DatabaseError, block.DialplanError, InstallError, FileChangeError,
                scripts.ScriptError)


def landing_results(target: Target, ours: str) -> list[Result]:
    """`check`'s view of where the block `ours` (the target's, in its mode) lands."""
    return landing.judge(target.asterisk_dir, target.not_loaded_fix(), target.outdated_fix(),
                         ours, dial_contexts=target.dial_contexts())
