"""Many agents' 3-way calls at once on one database and one (fake) Asterisk.

Each batch is a `Simulation` of its own agent (own user, lead, session, conferences); they share
the site's database and one FakeAMI, whose originates are routed to the batch by lead id.
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import replace

from .demo import dialplan_text
from .fakeami import FakeAMI, Originate
from .fastagi import FastAGIServer
from .sim import SimResult, Simulation, Timeouts, parse_party
from .site import Site


def agent_site(base: Site, n: int) -> Site:
    """The n-th agent of the load: rows of its own, in the base site's database."""
    session = 8_610_000 + n * 10
    return replace(base, user=str(7000 + n), session=str(session), lead_id=2_000_000 + n,
                   conferences=(session + 1, session + 2, session + 3))


def run_batches(base: Site, conf_path: str, batches: list[list[str]], *,
                timeouts: Timeouts, sound_scale: float = 0.2,
                stagger: float = 0.0, fastagi: FastAGIServer | None = None) -> list[SimResult]:
    """Play every batch (a list of party specs each) at once, or the n-th `n * stagger`
    seconds after the first (agents do not all start their 3-way call in the same instant);
    with `fastagi`, every AGI step goes to that server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)   # ~6 descriptors per AGI run
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    sims: dict[str, Simulation] = {}

    def originated(originate: Originate) -> None:
        sims[originate.variables.get("__lead_id", "")].originated(originate)

    def hung_up(target: str) -> bool:
        return any(sim.ami_hangup(target) for sim in list(sims.values()))

    results: list[SimResult | None] = [None] * len(batches)
    with FakeAMI(on_originate=originated, on_hangup=hung_up) as ami:
        base.reset(ami_port=ami.port)
        for n, parties in enumerate(batches):
            site = agent_site(base, n)
            site.add_agent()
            sims[str(site.lead_id)] = Simulation(
                site, conf_path, [parse_party(p) for p in parties], dialplan_text=dialplan_text(),
                timeouts=timeouts, sound_scale=sound_scale, ami=ami, reset=False,
                fastagi=fastagi)

        def play(n: int, sim: Simulation) -> None:
            time.sleep(n * stagger)     # a schedule, not synchronisation
            results[n] = sim.run()
        threads = [threading.Thread(target=play, args=(n, sim))
                   for n, sim in enumerate(sims.values())]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return [r for r in results if r is not None]
