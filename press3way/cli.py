"""The `press3way` command: thin click shells over the library."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import click

from . import __version__
from .fastagi import DEFAULT_MAX_CALLS, DEFAULT_PORT, DEFAULT_STOP_TIMEOUT_S


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__)
def main() -> None:
    """VICIdial 3-way press-1 transfers: tools for the AGI scripts, dialplan and logs."""


@main.command("fake-agi", context_settings={"ignore_unknown_options": True})
@click.argument("script", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1)
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
              help="An agi_* environment line (agi_channel=SIP/x-1, agi_calleridname=...).")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A channel variable GET VARIABLE returns (call_3way_id=T...).")
@click.option("--digit", "digits", multiple=True, metavar="D@SECONDS",
              help="The party presses D this many seconds after the script starts.")
@click.option("--hangup-at", type=float, help="The channel hangs up after this many seconds.")
@click.option("--hangup-mode", type=click.Choice(["sighup", "line"]), default="sighup",
              show_default=True, help="How Asterisk tells the script: SIGHUP or a HANGUP line.")
@click.option("--dead", is_flag=True, help="Run as from the h extension (channel already gone).")
@click.option("--python", "interpreter", default=None,
              help="Run the script with this interpreter instead of its #! line.")
def fake_agi(script, args, env, variables, digits, hangup_at, hangup_mode, dead, interpreter):
    """Run an AGI SCRIPT [ARGS] with this command playing Asterisk's side; print the transcript."""
    from .testing.channel import SimChannel
    from .testing.fakeagi import FakeAGI, parse_press

    def pairs(items, what):
        out = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=what)
            out[key] = value
        return out

    try:
        presses = [parse_press(d) for d in digits]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--digit") from None
    agi_env = pairs(env, "--env")
    channel = SimChannel(agi_env.get("agi_channel", "SIP/fake-00000001"),
                         variables=pairs(variables, "--var"), presses=presses, hangup_at=hangup_at)
    run = FakeAGI(os.path.abspath(script), channel, list(args), env=agi_env,
                  context=agi_env.get("agi_context", "default"),
                  extension=agi_env.get("agi_extension", "s"), hangup_mode=hangup_mode,
                  dead=dead, interpreter=interpreter)
    result = run.run()
    click.echo(result.format())
    click.echo(f"exit {result.exit_code}; continues at {result.context},{result.extension},"
               f"{result.priority}" + ("; channel hung up" if result.hung_up else ""))
    if result.stderr.strip():
        click.echo("--- stderr (the AGI log) ---\n" + result.stderr.rstrip())
    sys.exit(0 if result.exit_code == 0 else 1)


@main.command()
def demo() -> None:
    """Play a 3-number multi-call on a throwaway MariaDB and print what happened."""
    from .testing.demo import run_demo

    sys.exit(run_demo(click.echo))


@main.command()
@click.option("--party", "parties", multiple=True, metavar="NUMBER:SPEC",
              help="An outside party, e.g. 7275551212:answer=0.5,press=1@1.2 (seconds after it "
                   "starts ringing); also hangup=S, noanswer, busy. Two or more make a multi-call.")
@click.option("--scenario", type=click.File(), help="A file with one --party value per line.")
@click.option("--dialstring", help="What the agent dials after 49907 (default 91 + first party).")
@click.option("--agent-hangup", type=float, help="The agent leg hangs up after S seconds.")
@click.option("--conf-engine", type=click.Choice(["MEETME", "CONFBRIDGE"]), default="MEETME",
              show_default=True)
@click.option("--engine", type=click.Choice(["InnoDB", "MyISAM"]), default="InnoDB",
              show_default=True, help="Engine of the feature tables.")
@click.option("--timeouts", default="agent=50,dial=30,press=20,accept=10", show_default=True,
              help="The dialplan's timeouts (seconds) to simulate with.")
@click.option("--dialplan", "dialplan_file", type=click.Path(exists=True, dir_okay=False),
              help="The dialplan to run (default: the one this package installs).")
@click.option("--sound-scale", type=float, default=1.0, show_default=True,
              help="Multiply every prompt's length (0.1 = ten times faster).")
@click.option("--server", metavar="HOST:PORT:USER:PASSWORD",
              help="Use this MariaDB (creates database press3way_sim) instead of a throwaway one.")
@click.option("--quiet", is_flag=True, help="Print only the summary, not the live timeline.")
def simulate(parties, scenario, dialstring, agent_hangup, conf_engine, engine, timeouts,
             dialplan_file, sound_scale, server, quiet):
    """Play whole 3-way calls through the dialplan with fake Asterisk parts and a real DB."""
    from .testing.demo import dialplan_text, simulate as run
    from .testing.sim import Timeouts, parse_party

    specs = list(parties) + ([line.strip() for line in scenario
                              if line.strip() and not line.startswith("#")] if scenario else [])
    try:
        party_list = [parse_party(p) for p in specs or ["7275551212:answer=0.5,press=1@1.5"]]
        knobs = Timeouts(**{k: int(v) for k, v in
                            (item.split("=", 1) for item in timeouts.split(",") if item)})
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from None
    server_settings = None
    if server:
        host, port, user, password = (server.split(":", 3) + ["", "", ""])[:4]
        server_settings = {"host": host, "port": int(port or 3306), "user": user,
                           "password": password}
    result = run(party_list, server=server_settings, engine=engine, timeouts=knobs,
                 dialstring=dialstring, agent_hangup=agent_hangup, conf_engine=conf_engine,
                 sound_scale=sound_scale, dialplan_text=dialplan_text(dialplan_file),
                 out=None if quiet else click.echo)
    click.echo("\n" + result.format())
    sys.exit(0 if result.live_rows == 0 else 1)


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
    from .db import DatabaseError
    from .dialplan import DialplanError
    from .install import InstallError
    from .maintenance import MaintenanceError
    from .vicidial import NotFound

    return (DatabaseError, DialplanError, InstallError, MaintenanceError, NotFound, OSError)


def _store():
    from .db import Store, connect

    return Store(connect(_config()))


def _dialplan_options(f):
    """--dialplan-file FILE | --vicidial: where the dialplan block goes."""
    f = click.option("--vicidial", "use_vicidial", is_flag=True,
                     help="Use VICIdial's System Settings > Custom Dialplan Entry instead of a "
                          "file (VICIdial then rebuilds and reloads the dialplan on every "
                          "server).")(f)
    return click.option("--dialplan-file", type=click.Path(dir_okay=False), default=None,
                        help="The dialplan file Asterisk includes "
                             "[default: /etc/asterisk/extensions_custom.conf].")(f)


_agi_dir_option = click.option(
    "--agi-dir", type=click.Path(file_okay=False), default=None,
    help="Asterisk's agi-bin directory [default: PATHagi from astguiclient.conf, else "
         "/var/lib/asterisk/agi-bin].")
_dry_run_option = click.option("--dry-run", is_flag=True,
                               help="Say what would be done; change nothing.")


def _target(cfg, dialplan_file, use_vicidial):
    from .install import dialplan_target

    if dialplan_file and use_vicidial:
        raise click.UsageError("give --dialplan-file or --vicidial, not both")
    return dialplan_target(cfg, dialplan_file, use_vicidial)


@main.command()
@_agi_dir_option
@_dialplan_options
@click.option("--link", is_flag=True,
              help="Symlink the scripts pip installed instead of copying them "
                   "(they follow upgrades of the package).")
@_dry_run_option
def install(agi_dir, dialplan_file, use_vicidial, link, dry_run) -> None:
    """Install the feature on this server: the two AGI scripts into agi-bin, the four
    vicidial_3way_press_* tables (created, or completed when an older install made them;
    no row is lost, engines are kept), and the dialplan block between
    '; BEGIN press3way' and '; END press3way' markers. Running it again changes nothing."""
    from .install import install as run

    cfg = _config()
    try:
        target = _target(cfg, dialplan_file, use_vicidial)
        run(cfg, agi_dir or cfg.agi_dir, target, link, dry_run, click.echo)
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@_agi_dir_option
@_dialplan_options
@_dry_run_option
def uninstall(agi_dir, dialplan_file, use_vicidial, dry_run) -> None:
    """Remove the dialplan block and the AGI scripts that `install` put there (a script that
    was there before is put back). The tables and their rows stay."""
    from .install import uninstall as run

    cfg = _config()
    try:
        run(agi_dir or cfg.agi_dir, _target(cfg, dialplan_file, use_vicidial), dry_run, click.echo)
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@_agi_dir_option
@_dialplan_options
def check(agi_dir, dialplan_file, use_vicidial) -> None:
    """Check everything the feature needs: config file, AGI scripts, sound files, database
    login, the four tables (every column and index, and their engines), this server's
    `servers` row, the AMI login, the dialplan block. One line per item, OK or the fix;
    exits non-zero if anything is wrong."""
    from .check import run

    failed = False
    try:
        for result in run(None, agi_dir, lambda cfg: _target(cfg, dialplan_file, use_vicidial)):
            click.echo(result.line())
            failed = failed or result.ok is not True
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("user")
@click.argument("phones")
def multi(user, phones) -> None:
    """Make USER's next 3-way call ring several outside numbers at once; the first to press 1
    is transferred. PHONES is a comma list (like the agent API's multi_dial_phones): at most
    10 numbers of 5 to 18 digits, no duplicates. Refused while USER has a 3-way call going."""
    from .maintenance import arm_multi

    try:
        numbers = arm_multi(_store(), user, phones)
    except _admin_errors() as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {user}: the next 3-way call dials {len(numbers)} numbers: "
               + ", ".join(numbers))


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
        click.echo(f"{plan.rows} log row(s) older than {plan.cutoff} ({days} days)")
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


# --- report ---

@contextlib.contextmanager
def _database() -> Iterator:
    """A connection from the config (PRESS3WAY_CONF or /etc/astguiclient.conf); a missing
    config or a database error ends the command with one line, not a traceback."""
    from .config import ConfigError, load
    from .db import DatabaseError, connect

    try:
        conn = connect(load())
        try:
            yield conn
        finally:
            conn.close()
    except (ConfigError, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]),
              metavar="YYYY-MM-DD", help="First day.")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]),
              metavar="YYYY-MM-DD", help="Last day, included to its end.")
@click.option("--user", help="Only this agent user.")
@click.option("--phone", help="Only this outside phone number.")
@click.option("--archive", is_flag=True, help="Read vicidial_3way_press_log_archive instead.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]),
              default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def report(start, end, user, phone, archive, fmt, output) -> None:
    """The 3-Way Press Log Report: summary counts and every call, newest first."""
    from .report import Filters, build
    from .report_formats import render, wants_colour

    if start > end:
        raise click.BadParameter("is after --end", param_hint="--start")
    with _database() as conn:
        result = build(conn, Filters(start.date(), end.date(), user, phone, archive))
    with click.open_file(output or "-", "w", encoding="utf-8") as out:
        out.write(render(result, fmt, colour=output is None and wants_colour(sys.stdout)))


@main.command()
@click.argument("lead_id", type=click.IntRange(min=0))
@click.option("--archive", is_flag=True, help="Include the archived calls, marked.")
def lead(lead_id, archive) -> None:
    """3-WAY PRESS LOGS FOR THIS LEAD: its calls, newest first."""
    from .report import lead_history
    from .report_formats import lead_table, wants_colour

    with _database() as conn:
        rows = lead_history(conn, lead_id, archive=archive)
    click.echo(lead_table(lead_id, rows, archive, colour=wants_colour(sys.stdout)), nl=False)
