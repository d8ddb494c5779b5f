"""Overload degrades, never lies (docs/behaviour.md, "Overload"): a batch beyond the server's
limit is refused at its start, before anyone is called, with buzz and an AGI-log line."""

from __future__ import annotations

from press3way.database import query
from press3way_testing.demo import dialplan_text
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.sim import Simulation, parse_party

PARTY = "7275551212:answer=0.2,press=1@prompt+0.1"


def _play(site, conf_path: str, fastagi: FastAGIServer | None = None):
    return Simulation(site, conf_path, [parse_party(PARTY)], dialplan_text=dialplan_text(),
                      sound_scale=0.1, fastagi=fastagi).run()


def _hold_slots(site, count: int):
    """A connection holding the server's first `count` batch slots, as batches in progress."""
    holder = site.connect()
    for n in range(count):
        assert query(holder, "SELECT GET_LOCK(%s, 0) AS got",
                     (f"press3way:batch:{site.server_ip}:{n}",))[0]["got"] == 1
    return holder


def _refused(result) -> bool:
    """Nobody called, nothing logged, the agent leg's caller hears buzz."""
    return (result.log_rows, result.live_rows) == ([], 0) \
        and not any(text.startswith("ringing") for _, _, text in result.timeline) \
        and any(who == "agent" and "STREAM FILE buzz" in text for _, who, text in result.timeline)


def test_a_batch_beyond_the_servers_limit_is_refused_before_anyone_is_called(site, tmp_path):
    conf = tmp_path / "astguiclient.conf"
    conf.write_text(open(site.conf_path, encoding="utf-8").read()
                    + "VARpress3way_max_batches => 1\n", encoding="utf-8")
    other_batch = _hold_slots(site, 1)      # the server's one slot, as a batch in progress
    refused = _play(site, str(conf))
    assert _refused(refused), refused.format()
    assert "server overloaded: 1 batches already in progress" in site.agi_log()

    other_batch.close()                 # that batch is over: the next one goes ahead
    placed = _play(site, str(conf))
    assert [r["result"].split("|")[-1].split(":")[0] for r in placed.log_rows] == ["Transfer"], \
        placed.format()


def test_the_fastagi_server_takes_at_most_two_fifths_of_its_pool_in_batches(site):
    """Each batch holds up to two of the server's database connections for its life (its agent
    leg's, its winner's while it waits for the room): with 5 connections, 2 batches at once;
    a third is refused at its start rather than its winner starved of a connection."""
    with FastAGIServer(site.conf_path, options=("--max-db-connections", "5")) as server:
        holder = _hold_slots(site, 2)
        refused = _play(site, site.conf_path, server)
        assert _refused(refused), refused.format()
        assert "server overloaded: 2 batches already in progress" in site.agi_log()
        holder.close()
        placed = _play(site, site.conf_path, server)
    assert [r["result"].split("|")[-1].split(":")[0] for r in placed.log_rows] == ["Transfer"], \
        placed.format()
