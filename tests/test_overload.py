"""Overload degrades, never lies (docs/behaviour.md, "Overload"): a batch beyond the server's
limit is refused at its start, before anyone is called, with buzz and an AGI-log line."""

from __future__ import annotations

from press3way.database import query
from press3way_testing.demo import dialplan_text
from press3way_testing.sim import Simulation, parse_party

PARTY = "7275551212:answer=0.2,press=1@prompt+0.1"


def _play(site, conf_path: str):
    return Simulation(site, conf_path, [parse_party(PARTY)], dialplan_text=dialplan_text(),
                      sound_scale=0.1).run()


def test_a_batch_beyond_the_servers_limit_is_refused_before_anyone_is_called(site, tmp_path):
    conf = tmp_path / "astguiclient.conf"
    conf.write_text(open(site.conf_path, encoding="utf-8").read()
                    + "VARpress3way_max_batches => 1\n", encoding="utf-8")
    other_batch = site.connect()        # holds the server's one slot, as a batch in progress
    assert query(other_batch, "SELECT GET_LOCK(%s, 0) AS got",
                 (f"press3way:batch:{site.server_ip}:0",))[0]["got"] == 1

    refused = _play(site, str(conf))
    assert (refused.log_rows, refused.live_rows) == ([], 0), refused.format()
    assert not any(text.startswith("ringing") for _, _, text in refused.timeline)
    assert any(who == "agent" and "STREAM FILE buzz" in text
               for _, who, text in refused.timeline), refused.format()
    assert "server overloaded: 1 batches already in progress" in site.agi_log()

    other_batch.close()                 # that batch is over: the next one goes ahead
    placed = _play(site, str(conf))
    assert [r["result"].split("|")[-1].split(":")[0] for r in placed.log_rows] == ["Transfer"], \
        placed.format()
