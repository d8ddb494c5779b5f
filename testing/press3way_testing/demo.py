"""`press3way simulate` and `make demo`: a simulation on a database of its own."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Callable, Iterator

import press3way
from press3way_testing.mariadb import throwaway_server
from press3way_testing.sim import Party, SimResult, Simulation, Timeouts, parse_party
from press3way_testing.site import Site

DEMO_PARTIES = (
    "7275551212:answer=0.6,press=1@prompt+0.3",    # presses 1 after "press 1 now": wins
    "7275551213:answer=0.6,press=1@prompt+0.31",   # just after: Defeated, or Too Slow
    "7275551214:noanswer",                         # still ringing when the batch is decided
)


def dialplan_text(path: str | None = None) -> str:
    path = path or os.path.join(os.path.dirname(press3way.__file__), "data",
                                "extensions_custom.conf")
    with open(path, encoding="utf-8") as f:
        return f.read()


@contextlib.contextmanager
def scratch_site(server: dict | None = None, engine: str = "InnoDB") -> Iterator[tuple[Site, str]]:
    """A VICIdial site in database `press3way_sim` (on a throwaway MariaDB unless `server`
    is given), and an astguiclient.conf for it."""
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(throwaway_server())
        site = Site(server=server, db_name="press3way_sim")
        site.create(engine)
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="press3way-sim-"))
        logs = os.path.join(work, "logs")
        os.makedirs(logs)
        yield site, site.write_conf(os.path.join(work, "astguiclient.conf"), logs)


def simulate(parties: list[Party], *, server: dict | None = None, engine: str = "InnoDB",
             out: Callable[[str], None] | None = None, **options) -> SimResult:
    with scratch_site(server, engine) as (site, conf):
        options.setdefault("dialplan_text", dialplan_text())
        return Simulation(site, conf, parties, out=out, **options).run()


def timeline(echo: Callable[[str], None]) -> Callable[[str], None]:
    """Prints the simulation's events as they happen, under a heading printed with the first
    (so a simulation that cannot start prints only its error)."""
    started = []

    def out(line: str) -> None:
        if not started:
            started.append(True)
            echo("Timeline (seconds):")
        echo(line)
    return out


def outcome(result: SimResult) -> str:
    """Where each channel ended, the batch's log rows and the live rows left: what follows the
    timeline, which the simulation already printed as it went."""
    lines = ["Where each channel ended:"]
    lines += [f"  {label:<12} {end}" for label, end in result.calls.items()]
    lines.append("\nvicidial_3way_press_log rows of the batch:")
    lines += [f"  {row['call_3way_id']}  {row['phone_number']}  transfer={row['call_transfer']}"
              f"  {row['result']}" for row in result.log_rows]
    lines.append(f"\nlive rows left: {result.live_rows}")
    return "\n".join(lines)


def run_demo(echo: Callable[[str], None]) -> int:
    echo("press3way demo: a 3-number multi-call through extensions_custom.conf, on a "
         "throwaway MariaDB\n")
    for party in DEMO_PARTIES:
        echo(f"  party {party}")
    echo("\nstarting MariaDB ...")
    result = simulate([parse_party(p) for p in DEMO_PARTIES],
                      timeouts=Timeouts(agent=20, dial=10, press=5, accept=10),
                      out=timeline(echo))
    echo("\n" + outcome(result))
    transferred = sum(1 for r in result.log_rows if r["call_transfer"] == "Y")
    echo(f"\n{transferred} transfer, {len(result.log_rows)} calls, "
         f"{result.live_rows} live rows left")
    return 0 if transferred == 1 and result.live_rows == 0 else 1
