"""Many agents' 3-way calls at once on one database: on one Asterisk server, or on a VICIdial
cluster of several (each its own `servers` row, manager and conferences, one database).

Each batch is a `Simulation` of its own agent (own user, lead, session, conferences) on one
server; the agents of a server share its FakeAMI, whose originates are routed to the batch by
lead id, and whose Hangup/Redirect/ControlPlayback reach only that server's channels.
"""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from dataclasses import dataclass, field, replace

from press3way_testing.demo import dialplan_text
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.sim import SimResult, Simulation, Timeouts, parse_party
from press3way_testing.site import Site
from press3way_testing.standins.fakeami import FakeAMI, Originate


@dataclass
class AsteriskServer:
    """One Asterisk server of a cluster: the site of its `servers` row (server_ip), the
    astguiclient.conf its AGI scripts read (VARserver_ip), the FastAGI server its dialplan
    calls (None: a process per AGI step), and after a run what it saw."""
    site: Site
    conf_path: str
    fastagi: FastAGIServer | None = None      # reads conf_path: this server's own
    batches: list[int] = field(default_factory=list)            # which batches ran here
    actions: list[dict[str, str]] = field(default_factory=list)  # every AMI action it received


def agent_site(base: Site, n: int, slot: int | None = None) -> Site:
    """The n-th agent of the load, on `base`'s server: user and lead of its own; session and
    conferences numbered by its `slot` on that server (every server of a cluster has the same
    conference numbers, as VICIdial creates them)."""
    session = 8_610_000 + (n if slot is None else slot) * 10
    return replace(base, user=str(7000 + n), session=str(session), lead_id=2_000_000 + n,
                   conferences=(session + 1, session + 2, session + 3))


def run_batches(base: Site, conf_path: str, batches: list[list[str]], *,
                timeouts: Timeouts, sound_scale: float = 0.2,
                stagger: float = 0.0, fastagi: FastAGIServer | None = None) -> list[SimResult]:
    """Play every batch (a list of party specs each) on one server, at once, or the n-th
    `n * stagger` seconds after the first (agents do not all start in the same instant);
    with `fastagi`, every AGI step goes to that server."""
    return run_cluster([AsteriskServer(base, conf_path, fastagi)], batches, timeouts=timeouts,
                       sound_scale=sound_scale, stagger=stagger)


def run_cluster(servers: list[AsteriskServer], batches: list[list[str]], *,
                timeouts: Timeouts, sound_scale: float = 0.2,
                stagger: float = 0.0) -> list[SimResult]:
    """Play the batches spread over the servers (batch n on server n mod len(servers)), all
    at the same time, on the database of the first server's site; each server's AGI steps
    run its way (its own FastAGI server, with its own config, or processes)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)   # ~6 descriptors per AGI run
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    sims: list[Simulation] = []
    with contextlib.ExitStack() as stack:
        amis = [stack.enter_context(_ServerAMI()) for _ in servers]
        servers[0].site.reset(ami_port=amis[0].port)
        for server, ami in zip(servers[1:], amis[1:]):   # the same room numbers on each
            server.site.add_server(ami_port=ami.port)
            server.site.add_conferences()
        for n, parties in enumerate(batches):
            where = n % len(servers)
            server = servers[where]
            site = agent_site(server.site, n, len(server.batches))
            site.add_agent()
            server.batches.append(n)
            sims.append(Simulation(
                site, server.conf_path, [parse_party(p) for p in parties],
                dialplan_text=dialplan_text(), timeouts=timeouts, sound_scale=sound_scale,
                ami=amis[where], reset=False, fastagi=server.fastagi))
            amis[where].sims[str(site.lead_id)] = sims[-1]
        results = _play_all(sims, stagger)
        for server, ami in zip(servers, amis):
            server.actions = list(ami.actions)
    return results


class _ServerAMI(FakeAMI):
    """A server's manager: originates go to the simulation of their lead; channel actions
    to whichever of this server's simulations has the channel."""

    def __init__(self) -> None:
        self.sims: dict[str, Simulation] = {}
        super().__init__(on_originate=self._originated, on_hangup=self._each("ami_hangup"),
                         on_redirect=self._each("ami_redirect"),
                         on_control_playback=self._each("ami_control_playback"))

    def _originated(self, originate: Originate) -> None:
        sim = self.sims.get(originate.variables.get("__lead_id", ""))
        if sim is None:                  # no such call on this server: nobody answers
            originate.respond(False, "", "0")
        else:
            sim.originated(originate)

    def _each(self, method: str):
        def act(*args) -> bool:
            return any([getattr(sim, method)(*args) for sim in list(self.sims.values())])
        return act


def _play_all(sims: list[Simulation], stagger: float) -> list[SimResult]:
    results: list[SimResult | None] = [None] * len(sims)

    def play(n: int, sim: Simulation) -> None:
        time.sleep(n * stagger)     # a schedule, not synchronisation
        results[n] = sim.run()
    threads = [threading.Thread(target=play, args=(n, sim)) for n, sim in enumerate(sims)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]
