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
    """Play a 3-way press-1 call on a throwaway MariaDB and print what happened."""
    from .testing.demo import run_demo

    sys.exit(run_demo(click.echo))
