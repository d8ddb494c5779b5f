"""The `press3way` command: thin click shells over the library."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import click

from . import __version__


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
    """Play a 3-way press-1 call on a throwaway MariaDB and print what happened."""
    from .testing.demo import run_demo

    sys.exit(run_demo(click.echo))


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
