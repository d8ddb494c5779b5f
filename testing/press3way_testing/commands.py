"""The harness's commands, `press3way fake-agi`, `demo` and `simulate`: they play Asterisk's
side (the stand-ins, the simulator, a throwaway MariaDB) and so live outside the product.
`press3way` finds them through the `press3way.commands` entry points this distribution
declares, and imports them only when one of them is run."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import sys

import click

from press3way.cli import MAX_SECONDS, Refused, Seconds


# --- the commands ---------------------------------------
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
    from press3way_testing.standins.fakeagi import parse_press

    try:
        when, digit = parse_press(text)
    except ValueError:
        when, digit = math.nan, ""
    if not (math.isfinite(when) and 0 <= when <= MAX_SECONDS):
        raise click.BadParameter(f"{text[:40]!r}: expected DIGIT@SECONDS, for example 1@0.5 "
                                 f"(0 to {MAX_SECONDS:g} s)", param_hint="--digit")
    return when, digit


@click.command("fake-agi", context_settings={"ignore_unknown_options": True})
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
    from press3way_testing.standins.channel import SimChannel
    from press3way_testing.standins.fakeagi import FakeAGI

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
    from press3way_testing.mariadb import MariaDBMissing, binaries

    if importlib.util.find_spec("pytest_mysql") is None:
        raise Refused("a throwaway MariaDB needs pytest-mysql: pip install ./testing"
                      + (f" ({otherwise})" if otherwise else ""))
    try:
        binaries()
    except MariaDBMissing as exc:
        raise Refused(str(exc)) from None


@click.command()
def demo() -> None:
    """Play a 3-number multi-call on a throwaway MariaDB and print what happened."""
    from press3way_testing.demo import run_demo

    _need_throwaway_mariadb()
    sys.exit(run_demo(click.echo))


PARTY_HELP = ("expected NUMBER:answer=S,press=D@S,press=D@prompt+S,press=D@prompt_start+S,"
              "press=D@together+S,hangup=S,noanswer,busy "
              f"(S: seconds, 0 to {MAX_SECONDS:g})")


def _party(text: str):
    """One --party value; the simulator's own messages name the bad item."""
    from press3way_testing.sim import parse_party

    try:
        party = parse_party(text)
    except ValueError as exc:
        own = str(exc).startswith("'") and "float" not in str(exc)
        raise click.BadParameter(str(exc) if own else f"{text[:60]!r}: {PARTY_HELP}",
                                 param_hint="--party") from None
    presses = party.presses + party.after_prompt + party.during_prompt + party.together
    times = [party.answer, party.hangup] + [t for t, _ in presses]
    if not all(t is None or (math.isfinite(t) and 0 <= t <= MAX_SECONDS) for t in times):
        raise click.BadParameter(f"{text[:60]!r}: {PARTY_HELP}", param_hint="--party")
    return party


def _timeouts(text: str):
    """agent=50,dial=30,...: whole seconds, 1 to 3600, of the knobs the simulator has."""
    from press3way_testing.sim import Timeouts

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


@click.command()
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
    from press3way_testing.demo import dialplan_text, outcome, timeline
    from press3way_testing.demo import simulate as run

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
    from press3way_testing.asterisk import simulate as on_asterisk
    from press3way_testing.asterisk.root import RootUnavailable
    from press3way_testing.mariadb import MariaDBMissing

    if unsupported:
        raise click.UsageError("--dialstring and --agent-hangup are not available with --asterisk")
    try:
        return on_asterisk.run(party_list, knobs, server=server, engine=engine,
                               dialplan_file=dialplan_file, out=out)
    except (RootUnavailable, MariaDBMissing, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


