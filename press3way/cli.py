"""The `press3way` command: thin click shells over the library."""

from __future__ import annotations

import os
import sys

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
