"""The `press3way` command: thin click shells over the library.

Every failure ends in one line (`Error: ...`) and a non-zero exit, never a traceback: the
command group turns the errors an administrator can act on, and click's usage errors, into
that line (PRESS3WAY_DEBUG=1 lets an unexpected error through with its traceback).
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import importlib.util
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


class Commands(click.Group):
    """Runs a command and turns its failure into one line (see the module docstring)."""

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


# --- Asterisk stand-ins: fake-agi, demo, simulate ---------------------------------------
def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    """KEY=VALUE items; a line break or NUL would break the AGI environment's lines."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item[:40]!r}: expected KEY=VALUE", param_hint=what)
        if any(c in item for c in "\n\r\0"):
            raise click.BadParameter(f"{item[:40]!r}: no line breaks or NUL", param_hint=what)
        out[key] = value
    return out


def _press(text: str) -> tuple[float, str]:
    from .testing.standins.fakeagi import parse_press

    try:
        when, digit = parse_press(text)
    except ValueError:
        when, digit = math.nan, ""
    if not (math.isfinite(when) and 0 <= when <= MAX_SECONDS):
        raise click.BadParameter(f"{text[:40]!r}: expected DIGIT@SECONDS, for example 1@0.5 "
                                 f"(0 to {MAX_SECONDS:g} s)", param_hint="--digit")
    return when, digit


@main.command("fake-agi", context_settings={"ignore_unknown_options": True})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1)
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
              help="An agi_* environment line (agi_channel=SIP/x-1, agi_calleridname=...).")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A channel variable GET VARIABLE returns (call_3way_id=T...).")
@click.option("--digit", "digits", multiple=True, metavar="D@SECONDS",
              help="The party presses D this many seconds after the script starts.")
@click.option("--hangup-at", type=Seconds(0, MAX_SECONDS),
              help="The channel hangs up after this many seconds.")
@click.option("--hangup-mode", type=click.Choice(["sighup", "line"]), default="sighup",
              show_default=True, help="How Asterisk tells the script: SIGHUP or a HANGUP line.")
@click.option("--dead", is_flag=True, help="Run as from the h extension (channel already gone).")
@click.option("--python", "interpreter", default=None,
              help="Run the script with this interpreter instead of its #! line.")
def fake_agi(script, args, env, variables, digits, hangup_at, hangup_mode, dead, interpreter):
    """Run an AGI SCRIPT [ARGS] with this command playing Asterisk's side; print the transcript."""
    from .testing.standins.channel import SimChannel
    from .testing.standins.fakeagi import FakeAGI

    presses = [_press(d) for d in digits]
    agi_env = _pairs(env, "--env")
    channel_vars = _pairs(variables, "--var")
    if any("\0" in a for a in args):
        raise click.BadParameter("an argument holds NUL", param_hint="ARGS")
    channel = SimChannel(agi_env.get("agi_channel", "SIP/fake-00000001"), variables=channel_vars,
                         presses=presses, hangup_at=hangup_at)
    run = FakeAGI(os.path.abspath(script), channel, list(args), env=agi_env,
                  context=agi_env.get("agi_context", "default"),
                  extension=agi_env.get("agi_extension", "s"), hangup_mode=hangup_mode,
                  dead=dead, interpreter=interpreter)
    try:
        result = run.run()
    except OSError as exc:
        raise Refused(f"cannot run {interpreter or script}: {exc.strerror or exc} (a script needs "
                      "the executable bit and a #! line; --python runs it with an "
                      "interpreter)") from None
    click.echo(result.format())
    click.echo(f"exit {result.exit_code}; continues at {result.context},{result.extension},"
               f"{result.priority}" + ("; channel hung up" if result.hung_up else ""))
    if result.stderr.strip():
        click.echo("--- stderr (the AGI log) ---\n" + result.stderr.rstrip())
    sys.exit(0 if result.exit_code == 0 else 1)


def _need_throwaway_mariadb(otherwise: str = "") -> None:
    """A throwaway MariaDB needs the `sim` extra and MariaDB's server binaries: say which."""
    from .testing.mariadb import binaries

    if importlib.util.find_spec("pytest_mysql") is None:
        raise Refused("a throwaway MariaDB needs the sim extra: pip install 'press3way[sim]'"
                      + (f" ({otherwise})" if otherwise else ""))
    binaries()


@main.command()
def demo() -> None:
    """Play a 3-number multi-call on a throwaway MariaDB and print what happened."""
    from .testing.demo import run_demo

    _need_throwaway_mariadb()
    sys.exit(run_demo(click.echo))


PARTY_HELP = ("expected NUMBER:answer=S,press=D@S,press=D@prompt+S,hangup=S,noanswer,busy "
              f"(S: seconds, 0 to {MAX_SECONDS:g})")


def _party(text: str):
    """One --party value; the simulator's own messages name the bad item."""
    from .testing.sim import parse_party

    try:
        party = parse_party(text)
    except ValueError as exc:
        own = str(exc).startswith("'") and "float" not in str(exc)
        raise click.BadParameter(str(exc) if own else f"{text[:60]!r}: {PARTY_HELP}",
                                 param_hint="--party") from None
    times = [party.answer, party.hangup] + [t for t, _ in party.presses + party.after_prompt]
    if not all(t is None or (math.isfinite(t) and 0 <= t <= MAX_SECONDS) for t in times):
        raise click.BadParameter(f"{text[:60]!r}: {PARTY_HELP}", param_hint="--party")
    return party


def _timeouts(text: str):
    """agent=50,dial=30,...: whole seconds, 1 to 3600, of the knobs the simulator has."""
    from .testing.sim import Timeouts

    known = [f.name for f in dataclasses.fields(Timeouts)]
    values = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        key, _, value = item.partition("=")
        if key not in known:
            raise click.BadParameter(f"{item[:40]!r}: expected one of {', '.join(known)}",
                                     param_hint="--timeouts")
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_SECONDS):
            raise click.BadParameter(f"{item[:40]!r}: a whole number of seconds, 1 to "
                                     f"{MAX_SECONDS:g}", param_hint="--timeouts")
        values[key] = int(value)
    return Timeouts(**values)


def _server(text: str) -> dict:
    found = re.fullmatch(r"([^:]+):(\d{1,5}):([^:]+):(.*)", text, re.S)
    if not found or not 1 <= int(found.group(2)) <= 65535:
        raise click.BadParameter(f"{text[:40]!r}: expected HOST:PORT:USER:PASSWORD",
                                 param_hint="--server")
    host, port, user, password = found.groups()
    return {"host": host, "port": int(port), "user": user, "password": password}


@main.command()
@click.option("--party", "parties", multiple=True, metavar="NUMBER:SPEC",
              help="An outside party, e.g. 7275551212:answer=0.5,press=1@1.2 (seconds after it "
                   "starts ringing); also hangup=S, noanswer, busy. Two or more make a multi-call.")
@click.option("--scenario", type=click.File(encoding="utf-8"),
              help="A file with one --party value per line.")
@click.option("--dialstring", help="What the agent dials after 49907 (default 91 + first party).")
@click.option("--agent-hangup", type=Seconds(0, MAX_SECONDS),
              help="The agent leg hangs up after S seconds.")
@click.option("--conf-engine", type=click.Choice(["MEETME", "CONFBRIDGE"]), default="MEETME",
              show_default=True)
@click.option("--engine", type=click.Choice(["InnoDB", "MyISAM"]), default="InnoDB",
              show_default=True, help="Engine of the feature tables.")
@click.option("--timeouts", default="agent=50,dial=30,press=20,accept=10", show_default=True,
              help="The dialplan's timeouts (seconds) to simulate with.")
@click.option("--dialplan", "dialplan_file", type=click.Path(exists=True, dir_okay=False),
              help="The dialplan to run (default: the one this package installs).")
@click.option("--sound-scale", type=Seconds(0.01, 100), default=1.0, show_default=True,
              help="Multiply every prompt's length (0.1 = ten times faster).")
@click.option("--server", metavar="HOST:PORT:USER:PASSWORD",
              help="Use this MariaDB (creates database press3way_sim) instead of a throwaway one.")
@click.option("--quiet", is_flag=True, help="Print only the outcome, not the live timeline.")
@click.option("--asterisk", "real_asterisk", is_flag=True,
              help="Play the calls on the test tier's real Asterisk 22 instead (as root; "
                   "ConfBridge; its cached root is built once).")
def simulate(parties, scenario, dialstring, agent_hangup, conf_engine, engine, timeouts,
             dialplan_file, sound_scale, server, quiet, real_asterisk):
    """Play whole 3-way calls through the dialplan with fake Asterisk parts and a real DB."""
    from .testing.demo import dialplan_text, outcome, simulate as run, timeline

    try:
        lines = [line.strip() for line in scenario] if scenario else []
        plan = dialplan_text(dialplan_file)
    except UnicodeDecodeError:
        raise click.BadParameter("not UTF-8 text", param_hint="--scenario/--dialplan") from None
    specs = list(parties) + [line for line in lines if line and not line.startswith("#")]
    party_list = [_party(p) for p in specs or ["7275551212:answer=0.5,press=1@1.5"]]
    knobs = _timeouts(timeouts)
    if dialstring is not None and (not dialstring or any(c in dialstring for c in "\n\r\0")):
        raise click.BadParameter(f"{dialstring[:40]!r}: not empty, no line breaks or NUL",
                                 param_hint="--dialstring")
    server_settings = _server(server) if server is not None else None
    if server_settings is None:
        _need_throwaway_mariadb("or give --server HOST:PORT:USER:PASSWORD")
    out = None if quiet else timeline(click.echo)
    if real_asterisk:
        result = _simulate_on_asterisk(party_list, knobs, server_settings, engine, dialplan_file,
                                       out, dialstring is not None or agent_hangup is not None)
    else:
        result = run(party_list, server=server_settings, engine=engine, timeouts=knobs,
                     dialstring=dialstring, agent_hangup=agent_hangup, conf_engine=conf_engine,
                     sound_scale=sound_scale, dialplan_text=plan, out=out)
    click.echo(("" if quiet else "\n") + outcome(result))
    sys.exit(0 if result.live_rows == 0 else 1)


def _simulate_on_asterisk(party_list, knobs, server, engine, dialplan_file, out, unsupported):
    from .testing.asterisk import simulate as on_asterisk
    from .testing.asterisk.root import RootUnavailable
    from .testing.mariadb import MariaDBMissing

    if unsupported:
        raise click.UsageError("--dialstring and --agent-hangup are not available with --asterisk")
    try:
        return on_asterisk.run(party_list, knobs, server=server, engine=engine,
                               dialplan_file=dialplan_file, out=out)
    except (RootUnavailable, MariaDBMissing, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


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
    from .testing.mariadb import MariaDBMissing
    from .vicidial import NotFound

    return ADMIN_ERRORS + (ConfigError, MultiError, MariaDBMissing, NotFound, OSError,
                           pymysql.Error)


def _store():
    from .db import Store, connect

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
    [default] reaches it. One line per item, OK or the fix; exits non-zero if anything is
    wrong."""
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
    from .maintenance import cleanup as run

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
    from .maintenance import archive as run, archive_plan

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
    from .db import connect

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
