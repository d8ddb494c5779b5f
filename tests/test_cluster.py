"""A VICIdial cluster: two Asterisk servers (two `servers` rows, two managers, two sets of
conferences with the same numbers) on one database, batches on both at the same time. Each
agent leg must originate and hang up only on its own server's manager, reserve only its own
server's conferences, and every row must end where it should. Each AGI step a process, or
each Asterisk server's steps through a FastAGI server of its own (its own config)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from press3way import events as ev
from press3way.database import query
from press3way_testing.load import AsteriskServer, agent_site, run_cluster
from press3way_testing.sim import Timeouts
from tests.helpers import server_in_mode

BATCH = ["7275551210:answer=0.3,press=1@prompt+0.1", "7275551211:answer=0.3,press=1@prompt+0.1",
         "7275551212:answer=0.3,press=5@prompt+0.05", "7275551213:noanswer"]
BATCHES = 6
SERVER_B = "10.10.10.16"
pytestmark = pytest.mark.usefixtures("agi_mode")


def test_two_servers_keep_to_their_own_calls_and_conferences(site, tmp_path, capsys, agi_mode):
    site_b = replace(site, server_ip=SERVER_B)
    conf_b = site_b.write_conf(str(tmp_path / "astguiclient-b.conf"), site.logs_dir)
    with server_in_mode(conf_b, agi_mode) as fastagi_b:
        servers = [AsteriskServer(site, site.conf_path, site.fastagi),
                   AsteriskServer(site_b, conf_b, fastagi_b)]
        results = run_cluster(servers, [BATCH] * BATCHES, sound_scale=0.1,
                              timeouts=Timeouts(agent=30, dial=20, press=10, accept=20))
    assert len(results) == BATCHES
    conn = site.connect()
    assert query(conn, "SELECT * FROM vicidial_3way_press_live") == []
    assert query(conn, "SELECT * FROM vicidial_conferences WHERE extension LIKE %s",
                 ("Local/8300%",)) == []          # no reservation left hanging

    used: list[set[str]] = []
    for server in servers:
        ip = server.site.server_ip
        agents = [agent_site(server.site, n, slot) for slot, n in enumerate(server.batches)]
        rows = [row for n in server.batches for row in results[n].log_rows]
        # every batch of this server decided: one Transfer, every call ended once, logged here
        for n in server.batches:
            ends = [ev.terminal_event(r["result"]) for r in results[n].log_rows]
            assert len(ends) == len(BATCH) and ends.count(ev.TRANSFER) == 1, results[n].format()
            assert results[n].calls["agent"].startswith("in conference")
        assert {r["server_ip"] for r in rows} == {ip}
        # its manager saw only its own calls
        call_ids = {r["call_3way_id"] for r in rows}
        originates = [a for a in server.actions if a.get("Action") == "Originate"]
        assert sorted(a["CallerID"].split('"')[1] for a in originates) == sorted(call_ids)
        # a call, ringing or answered, is hung up by the uniqueid its originate gave it
        channels = {a["ChannelId"] for a in originates}
        hung_up = [a["Channel"] for a in server.actions if a.get("Action") == "Hangup"]
        assert hung_up and set(hung_up) <= channels, (hung_up, channels)
        # its conferences: each agent's winner in a room of this server, marked for that agent
        taken = query(conn, "SELECT conf_exten, extension FROM vicidial_conferences "
                            "WHERE server_ip = %s AND extension LIKE %s", (ip, "3WAY_%"))
        assert sorted(r["extension"] for r in taken) == sorted(f"3WAY_{a.user}" for a in agents)
        rooms = {results[n].calls["agent"].split()[2] for n in server.batches}
        assert {str(r["conf_exten"]) for r in taken} == rooms
        used.append(rooms)
    # both servers have the same room numbers and each took 8600061 (every agent's first try;
    # one who loses it picks another at random) in a row of its own: one number, two rooms
    assert len(used[0]) == len(used[1]) == BATCHES // 2 and "8600061" in used[0] & used[1]
    with capsys.disabled():
        print(f"\n[cluster] {BATCHES} batches on 2 servers at once ({agi_mode}): each "
              "server's calls, hang-ups and conferences stayed its own")
