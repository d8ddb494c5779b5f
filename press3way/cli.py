"""The `press3way` command: thin click shells over the library.

Every failure ends in one line (`Error: ...`) and a non-zero exit, never a traceback: the
command group turns the errors an administrator can act on, and click's usage errors, into
that line (PRESS3WAY_DEBUG=1 lets an unexpected error through with its traceback).
"""

from __future__ import annotations

import calendar
import contextlib
import math
import os
import re
import sys
import time
from datetime import date
from typing import Iterator

import click

from . import __version__
from .fastagi import DEFAULT_MAX_CALLS, DEFAULT_PORT, DEFAULT_STOP_TIMEOUT_S


class Refused(click.ClickException):
    """A failure shown as exactly one line, with any control character of an input spelled
    out (it must not drive the terminal)."""

    def __init__(self, message: str, exit_code: int = 1):
        from .report.text import printable

        super().__init__(printable(" ".join(message.split())))
        self.exit_code = exit_code


def describe(exc: BaseException) -> str:
    """An error in words, without Python's wording (`[Errno 2]`, error tuples)."""
    import pymysql

    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    if isinstance(exc, pymysql.Error) and exc.args:
        return f"database: {exc.args[-1]}"
    return str(exc) or type(exc).__name__


_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())      # click >= 8.2


def _usage(exc: click.UsageError) -> Refused:
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
    return Refused(exc.format_message() + hint, exc.exit_code)


PLUGIN_GROUP = "press3way.commands"


def _plugins() -> dict:
    """Commands other distributions add (the test harness's `demo`, `simulate`, `fake-agi`),
    by name; nothing of theirs is imported until one of them runs."""
    from importlib.metadata import entry_points

    found = entry_points()
    points = found.select(group=PLUGIN_GROUP) if hasattr(found, "select") \
        else found.get(PLUGIN_GROUP, ())         # Python 3.9
    return {point.name: point for point in points}


class Commands(click.Group):
    """Runs a command and turns its failure into one line (see the module docstring)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_plugins()))

    def get_command(self, ctx: click.Context, name: str):
        command = super().get_command(ctx, name)
        if command is None and name in _plugins():
            command = _plugins()[name].load()
        return command

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except _HELP:                          # `press3way` alone shows the help
            raise
        except click.UsageError as exc:        # `press3way --bogus`
            raise _usage(exc) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, Refused, BrokenPipeError):
            raise                              # click ends a closed pipe quietly
        except click.UsageError as exc:
            raise _usage(exc) from None
        except click.ClickException as exc:
            raise Refused(exc.format_message(), exc.exit_code) from None
        except _admin_errors() as exc:
            raise Refused(describe(exc)) from None
        except Exception as exc:
            if os.environ.get("PRESS3WAY_DEBUG"):
                raise
            raise Refused(f"internal error, {type(exc).__name__}: {describe(exc)} "
                          "(PRESS3WAY_DEBUG=1 shows where)") from None


class Day(click.ParamType):
    """YYYY-MM-DD, a day that exists, in the range the database's DATETIME holds."""
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx) -> date:
        if isinstance(value, date):
            return value
        found = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(value).strip())
        if not found:
            self.fail(f"{str(value)[:40]!r} is not a date: expected YYYY-MM-DD", param, ctx)
        year, month, day = map(int, found.groups())
        if year < 1000:
            self.fail(f"{value}: the database holds dates from 1000-01-01", param, ctx)
        if not 1 <= month <= 12:
            self.fail(f"{value}: there is no month {month:02d}", param, ctx)
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            self.fail(f"{value}: that day does not exist ({calendar.month_name[month]} {year} "
                      f"has {last} days)", param, ctx)
        return date(year, month, day)


class Seconds(click.ParamType):
    """A finite number of seconds between two bounds."""
    name = "SECONDS"

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def convert(self, value, param, ctx) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and self.low <= seconds <= self.high):
            self.fail(f"{str(value)[:40]!r} is not a number of seconds from {self.low:g} to "
                      f"{self.high:g}", param, ctx)
        return seconds


MAX_SECONDS = 3600.0


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__)
def main() -> None:
    """VICIdial 3-way press-1 transfers: tools for the AGI scripts, dialplan and logs."""


# --- FastAGI mode ---
@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0: any free port, printed at start).")
@click.option("--max-calls", type=click.IntRange(1, 10000), default=DEFAULT_MAX_CALLS,
              show_default=True,
              help="Calls run at once; a call beyond them is refused (buzz, or the i path).")
@click.option("--stop-timeout", type=click.FloatRange(0), default=DEFAULT_STOP_TIMEOUT_S,
              show_default=True,
              help="Seconds SIGTERM waits for calls in progress.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="astguiclient.conf (default: PRESS3WAY_CONF, else /etc/astguiclient.conf).")
def fastagi(port, max_calls, stop_timeout, config_path) -> None:
    """Serve both AGI legs over FastAGI (agi://127.0.0.1:PORT/...) from one process;
    SIGHUP re-reads the config, SIGTERM stops after the calls in progress."""
    from .config import ConfigError, conf_path
    from .fastagi.server import Server

    try:
        server = Server(config_path or conf_path(), port=port, max_calls=max_calls,
                        stop_timeout=stop_timeout)
    except (ConfigError, OSError) as exc:
        raise click.ClickException(f"cannot start the FastAGI server: {exc}") from None
    server.serve()


# --- install and maintenance ---
def _config():
    """The configuration, or a clean error (astguiclient.conf, or PRESS3WAY_CONF)."""
    from .config import ConfigError, load

    try:
        return load()
    except ConfigError as exc:
        raise click.ClickException(f"{exc} (set PRESS3WAY_CONF to use another file)") from None


def _admin_errors():
    """The errors an administrator can act on, shown as one line instead of a traceback."""
    import pymysql

    from .admin.install import ADMIN_ERRORS
    from .config import ConfigError
    from .multi import MultiError
    from .vicidial import NotFound

    return ADMIN_ERRORS + (ConfigError, MultiError, NotFound, OSError,
                           pymysql.Error)


def _store():
    from .database import connect
    from .store import Store

    return Store(connect(_config()))


def _dialplan_options(f):
    """--asterisk-dir DIR, --dialplan-file FILE | --vicidial: where the dialplan block goes."""
    f = click.option("--vicidial", "use_vicidial", is_flag=True,
                     help="Use VICIdial's System Settings > Custom Dialplan Entry instead of a "
                          "file (VICIdial then rebuilds and reloads the dialplan on every "
                          "server).")(f)
    f = click.option("--dialplan-file", type=click.Path(dir_okay=False), default=None,
                     help="The dialplan file for the block "
                          "[default: ASTERISK_DIR/extensions_custom.conf].")(f)
    return click.option("--asterisk-dir", type=click.Path(file_okay=False),
                        default="/etc/asterisk", show_default=True,
                        help="Asterisk's configuration directory: its extensions.conf and "
                             "the files it #includes are read to see where the block lands.")(f)


_agi_dir_option = click.option(
    "--agi-dir", type=click.Path(file_okay=False), default=None,
    help="Asterisk's agi-bin directory [default: PATHagi from astguiclient.conf, else "
         "/var/lib/asterisk/agi-bin].")
_dry_run_option = click.option("--dry-run", is_flag=True,
                               help="Say what would be done; change nothing.")


def _target(cfg, asterisk_dir, dialplan_file, use_vicidial):
    from .admin.install import dialplan_target

    if dialplan_file and use_vicidial:
        raise click.UsageError("give --dialplan-file or --vicidial, not both")
    return dialplan_target(cfg, asterisk_dir, dialplan_file, use_vicidial)


@main.command()
@_agi_dir_option
@_dialplan_options
@click.option("--link", is_flag=True,
              help="Symlink the scripts pip installed instead of copying them "
                   "(they follow upgrades of the package).")
@click.option("--replace-reference", is_flag=True,
              help="Replace the reference's (Perl version's) dialplan block, found in the "
                   "target, with ours; the text as it was is kept in a backup file.")
@click.option("--fastagi/--per-call", "fastagi", default=None,
              help="Point our block's AGI() calls at the FastAGI server (`press3way fastagi`, "
                   "which must be answering) / back at the per-call scripts in agi-bin "
                   "[default: keep the mode the installed block is in; per-call for a new "
                   "install].")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help=f"With --fastagi: the server's port [default: the installed block's, else "
                   f"{DEFAULT_PORT}].")
@_dry_run_option
def install(agi_dir, asterisk_dir, dialplan_file, use_vicidial, link, replace_reference,
            fastagi, port, dry_run) -> None:
    """Install the feature on this server: the two AGI scripts into agi-bin, the four
    vicidial_3way_press_* tables (created, or completed when an older install made them;
    no row is lost, engines are kept), and the dialplan block between
    '; BEGIN press3way' and '; END press3way' markers. Every precondition is checked first:
    when one fails nothing is changed. Running it again changes nothing."""
    from .admin.install import install as run
    from .admin.output import PipeSafeEcho

    if port is not None and not fastagi:
        raise click.UsageError("--port goes with --fastagi")
    cfg = _config()
    try:
        target = _target(cfg, asterisk_dir, dialplan_file, use_vicidial)
        run(cfg, agi_dir or cfg.agi_dir, target, link, dry_run, PipeSafeEcho(),
            replace_reference=replace_reference, fastagi=fastagi, port=port)
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@_agi_dir_option
@_dialplan_options
@_dry_run_option
def uninstall(agi_dir, asterisk_dir, dialplan_file, use_vicidial, dry_run) -> None:
    """Remove the dialplan block and the AGI scripts that `install` put there (a script that
    was there before is put back). The tables and their rows stay."""
    from .admin.install import uninstall as run
    from .admin.output import PipeSafeEcho

    cfg = _config()
    try:
        run(agi_dir or cfg.agi_dir, _target(cfg, asterisk_dir, dialplan_file, use_vicidial),
            dry_run, PipeSafeEcho())
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@_agi_dir_option
@_dialplan_options
def check(agi_dir, asterisk_dir, dialplan_file, use_vicidial) -> None:
    """Check everything the feature needs: config file, AGI scripts, sound files, database
    login, the four tables (every column and index, and their engines), this server's
    `servers` row, the AMI login, the dialplan block and where it lands in the dialplan
    Asterisk loads (extensions.conf and its #includes): whether the agent's 49907 dial from
    [default] and each server's ext_context reaches it. One line per item, OK or the fix
    (WARN: in order now, but not for long); exits non-zero if anything is wrong."""
    from .admin.check import run

    failed = False
    try:
        for result in run(None, agi_dir, lambda cfg: _target(cfg, asterisk_dir, dialplan_file,
                                                             use_vicidial)):
            click.echo(result.line())
            failed = failed or result.ok is not True
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("user")
@click.argument("phones", required=False)
@click.option("--replace", is_flag=True, help="Replace the list USER has armed.")
@click.option("--show", is_flag=True, help="Show USER's list: its numbers, age and status.")
@click.option("--cancel", "withdraw", is_flag=True, help="Withdraw the list USER has armed.")
def multi(user, phones, replace, show, withdraw) -> None:
    """Make USER's next 3-way call ring several outside numbers at once; the first to press 1
    is transferred. PHONES is a comma list (like the agent API's multi_dial_phones): at most
    10 numbers of 5 to 18 digits, no duplicates. USER must be logged in as an agent and have
    no 3-way call going; an armed list is replaced only with --replace. A list older than
    MULTI_MAX_AGE_S (300 s) is not dialled."""
    from .multi import MAX_AGE_S, arm, cancel, current

    if sum((phones is not None, show, withdraw)) != 1:
        raise click.UsageError("give PHONES, --show or --cancel (one of them)")
    if replace and phones is None:
        raise click.UsageError("--replace goes with PHONES")
    store = _store()
    if show:
        armed = current(store.conn, user)
        click.echo(armed.describe() if armed else f"user {user} has no multi-call list")
        return
    if withdraw:
        gone = cancel(store.conn, user)
        click.echo(f"user {user}: cancelled the list {', '.join(gone.phones)}")
        return
    numbers, before = arm(store, user, phones, replace=replace)
    if before is not None and before.armed:
        click.echo(f"user {user}: replaced the armed list {', '.join(before.phones)}")
    click.echo(f"user {user}: the next 3-way call dials {len(numbers)} numbers: "
               + ", ".join(numbers) + f" (if it starts within {MAX_AGE_S} s)")

@main.command()
@click.option("--stale", default=60, show_default=True, type=click.IntRange(1),
              help="Seconds without an agent heartbeat after which a call is left over.")
@_dry_run_option
def cleanup(stale, dry_run) -> None:
    """End the calls a crash left behind (run it from cron every minute): live rows without an
    agent heartbeat for --stale seconds get 'Agent Gone', rows older than 6 hours 'Timeout'
    (a call that had already ended keeps its ending); then the live rows are deleted."""
    from .admin.maintenance import cleanup as run

    try:
        run(_store(), stale, dry_run, click.echo)
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--days", default=732, show_default=True, type=click.IntRange(0),
              help="Move log rows older than this many days.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1),
              help="Rows per batch (each batch is copied, verified, then deleted).")
@_dry_run_option
def archive(days, batch_size, dry_run) -> None:
    """Move old rows of vicidial_3way_press_log into vicidial_3way_press_log_archive (run it
    from cron, for example nightly). A row is deleted from the log only after an identical row
    is verified in the archive, so nothing is lost if it is interrupted."""
    from .admin.maintenance import archive as run, archive_plan

    try:
        store = _store()
        plan = archive_plan(store, days)
        click.echo(f"{plan.rows} log row(s) older than {plan.cutoff} ({days} days)"
                   + (f"; {plan.in_progress} more of calls still in progress stay in the log"
                      if plan.in_progress else ""))
        if dry_run or not plan.rows:
            if dry_run:
                click.echo(f"would move them in {-(-plan.rows // batch_size)} batch(es) "
                           f"of {batch_size}")
            return
        totals = dict.fromkeys(("in_log", "copied", "verified", "deleted"), 0)
        with click.progressbar(length=plan.rows, label="archiving") as bar:
            for batch in run(store, plan, batch_size):
                totals = {k: totals[k] + batch[k] for k in totals}
                bar.update(batch["in_log"])
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"moved {totals['deleted']} of {totals['in_log']} row(s), each verified in the "
               f"archive before it left the log ({totals['copied']} copied now, "
               f"{totals['verified'] - totals['copied']} already there)")
    kept = totals["in_log"] - totals["deleted"]
    if kept:
        raise click.ClickException(
            f"{kept} row(s) stay in the log: the archive holds a different row with the same "
            "key (call_date, caller_code, user, call_3way_id); compare them by hand")


# --- report, lead, live ------------------------------------------------------------------
@contextlib.contextmanager
def _database() -> Iterator:
    """A connection from the config (PRESS3WAY_CONF or /etc/astguiclient.conf)."""
    from .database import connect

    conn = connect(_config())
    try:
        yield conn
    finally:
        conn.close()


@main.command()
@click.option("--start", required=True, type=Day(), help="First day.")
@click.option("--end", required=True, type=Day(), help="Last day, included to its end.")
@click.option("--user", help="Only this agent user.")
@click.option("--phone", help="Only this outside phone number.")
@click.option("--archive", is_flag=True, help="Read vicidial_3way_press_log_archive instead.")
@click.option("--by", "by", type=click.Choice(["call", "phone"]), default="call",
              show_default=True, help="One row per call, or per outside number (calls, "
                                      "answered and accepted shares, transfers, medians).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]),
              default="table", show_default=True,
              help="csv is VICIdial's download, byte for byte (by call).")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write to this file instead of standard output.")
def report(start, end, user, phone, archive, by, fmt, output) -> None:
    """The 3-Way Press Log Report: summary counts and every call, newest first."""
    from .report.model import Filters, build
    from .report.text import render, wants_colour

    if start > end:
        raise click.BadParameter(f"{start} is after --end {end}", param_hint="--start")
    with _database() as conn:
        result = build(conn, Filters(start, end, user, phone, archive))
    text = render(result, fmt, colour=output is None and wants_colour(sys.stdout), by=by)
    with click.open_file(output or "-", "w", encoding="utf-8") as out:
        out.write(text)


@main.command()
@click.argument("lead_id", type=click.IntRange(0, 4294967295))
@click.option("--archive", is_flag=True, help="Include the archived calls, marked.")
def lead(lead_id, archive) -> None:
    """3-WAY PRESS LOGS FOR THIS LEAD: its calls, newest first."""
    from .report.model import lead_history
    from .report.text import lead_table, wants_colour

    with _database() as conn:
        rows = lead_history(conn, lead_id, archive=archive)
    click.echo(lead_table(lead_id, rows, archive, colour=wants_colour(sys.stdout)), nl=False)


CLEAR = "\x1b[H\x1b[2J"


@main.command()
@click.option("--watch", is_flag=True, help="Refresh until --count screens or Ctrl-C.")
@click.option("--interval", type=Seconds(0.5, MAX_SECONDS), default=2.0, show_default=True,
              help="Seconds between refreshes.")
@click.option("--count", type=click.IntRange(1, 100_000), default=900, show_default=True,
              help="With --watch: how many screens before it exits.")
def live(watch, interval, count) -> None:
    """The 3-way calls in progress, per batch: agent, lead, age, agent heartbeat (GONE when
    the outside leg would call the agent gone), and each outside number with its status."""
    from .live import batches, frame
    from .report.text import wants_colour

    colour = wants_colour(sys.stdout)
    clear = watch and sys.stdout.isatty()
    with _database() as conn:
        try:
            for n in range(count if watch else 1):
                if n:
                    time.sleep(interval)
                screen = frame(*batches(conn), colour=colour)
                click.echo((CLEAR if clear else "\n" if n else "") + screen, nl=False)
        except KeyboardInterrupt:
            click.echo()
