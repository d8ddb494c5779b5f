"""Lookups and conference reservations in VICIdial's own tables, on the real database.
No AGI leg runs here (the legs' reservations run in both modes in test_scenarios and
test_load); the concurrent reservation runs both ways calls reach the database: one process
each, or threads of one FastAGI server on its pool."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from press3way import config, vicidial
from press3way.fastagi.pool import Pool
from tests.helpers import sql


def reserve(conn, srv, user: str, session: str) -> vicidial.Reservation | None:
    return vicidial.reserve_conference(conn, srv, vicidial.reservation_tag(user), session)


def test_lead_from_caller_code():
    assert vicidial.lead_from_caller_code("DC123456W0001234567W") == 1234567
    assert vicidial.lead_from_caller_code("V1123123450000123456") == 123456
    assert vicidial.lead_from_caller_code("T2AHD89KG00001234567") is None


def test_session_user_and_server(site):
    conn = site.connect()
    assert vicidial.agent_session(conn, site.caller_code) == (site.server_ip, site.session)
    assert vicidial.agent_user(conn, site.session, site.server_ip) == site.user
    assert vicidial.server(conn, site.server_ip).conference_exten("8600061") == "78600061"
    with pytest.raises(vicidial.NotFound, match="no vicidial_manager row"):
        vicidial.agent_session(conn, "DC999999W0000000001W")


def test_reservation_skips_own_session_and_release_gives_it_back(site):
    conn = site.connect()
    srv = vicidial.server(conn, site.server_ip)
    sql(site, "UPDATE vicidial_conferences SET extension = '' WHERE conf_exten = %s",
        (site.session,))
    first = reserve(conn, srv, site.user, site.session)
    assert first.conf_exten == "8600061"           # not the agent's own 8600051
    vicidial.release_conference(conn, srv, first)
    assert reserve(conn, srv, site.user, site.session).conf_exten == "8600061"


def test_one_user_reserving_twice_in_one_second_gets_two_and_gives_back_each(site):
    """The tag (user + second) is not unique: each reservation knows its own conference."""
    conn = site.connect()
    srv = vicidial.server(conn, site.server_ip)
    first = reserve(conn, srv, site.user, site.session)
    second = reserve(conn, srv, site.user, site.session)
    assert first.conf_exten != second.conf_exten
    vicidial.release_conference(conn, srv, second)
    vicidial.release_conference(conn, srv, first)
    held = sql(site, "SELECT conf_exten FROM vicidial_conferences WHERE extension LIKE 'Local/8300%%'")
    assert held == []


def test_agent_found_by_session_when_two_agents_hold_one_lead(site):
    """A closer and the fronter on the same lead: each 3-way call is its own agent's."""
    sql(site, "INSERT INTO vicidial_live_agents (user, server_ip, conf_exten, status, lead_id, "
              "campaign_id) VALUES ('7777', %s, '8600052', 'INCALL', %s, 'TESTCAMP')",
        (site.server_ip, site.lead_id))
    conn = site.connect()
    assert vicidial.agent_user(conn, site.session, site.server_ip) == site.user
    assert vicidial.agent_user(conn, "8600052", site.server_ip) == "7777"


def _reserve(args) -> vicidial.Reservation | None:
    site, n = args
    conn = site.connect()
    srv = vicidial.server(conn, site.server_ip)
    return reserve(conn, srv, f"agent{n}", site.session)


def _reserve_in_threads(site, agents: int) -> list[vicidial.Reservation | None]:
    """The FastAGI server's way: one process, a thread per call, connections from its pool,
    all reserving at once."""
    pool = Pool(config.load(site.conf_path), max_idle=agents)
    together = threading.Barrier(agents)

    def one(n: int) -> vicidial.Reservation | None:
        with pool.connection(pool.config) as conn:
            srv = vicidial.server(conn, site.server_ip)
            together.wait(timeout=30)
            return reserve(conn, srv, f"agent{n}", site.session)
    try:
        with ThreadPoolExecutor(agents) as threads:
            return list(threads.map(one, range(agents), timeout=60))
    finally:
        pool.close()


def test_two_agents_never_get_the_same_conference(site, agi_mode):
    if agi_mode == "process":
        with multiprocessing.get_context("fork").Pool(6) as pool:
            got = pool.map(_reserve, [(site, n) for n in range(6)])
    else:
        got = _reserve_in_threads(site, 6)
    reserved = [g.conf_exten for g in got if g is not None]
    assert len(reserved) == 3 and len(set(reserved)) == 3      # three free conferences


def test_agents_reserving_in_the_same_instant_each_get_one(site):
    """12 agents released at once, 20 conferences free: the lowest is taken by one, the
    others retry on free ones picked at random; every agent gets a conference of its own."""
    for conf in range(8600070, 8600087):
        sql(site, "INSERT INTO vicidial_conferences (conf_exten, server_ip, extension) "
                  "VALUES (%s, %s, '')", (conf, site.server_ip))
    conns = [site.connect() for _ in range(12)]
    srv = vicidial.server(conns[0], site.server_ip)
    start = threading.Barrier(len(conns))
    got: list[vicidial.Reservation | None] = [None] * len(conns)

    def agent(n: int) -> None:
        start.wait(timeout=10)
        got[n] = reserve(conns[n], srv, f"agent{n}", site.session)
    threads = [threading.Thread(target=agent, args=(n,)) for n in range(len(conns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    reserved = [g.conf_exten for g in got if g is not None]
    assert len(reserved) == 12 and len(set(reserved)) == 12, got


def test_a_room_is_marked_leave_3way_only_while_it_is_still_the_users(site):
    """Marking a room the agent's leave-3way (for VICIdial's conference cleaners) never takes
    over a room VICIdial freed and handed to another call meanwhile, nor another user's."""
    conn = site.connect()
    srv = vicidial.server(conn, site.server_ip)
    held = reserve(conn, srv, site.user, site.session)
    other = reserve(conn, srv, site.user + "1", site.session)     # a user whose name starts so
    vicidial.mark_conference_left(conn, srv, held.conf_exten, site.user)
    vicidial.mark_conference_left(conn, srv, other.conf_exten, site.user)
    sql(site, "UPDATE vicidial_conferences SET extension = 'SIP/other' WHERE conf_exten = %s",
        (held.conf_exten,))
    vicidial.mark_conference_left(conn, srv, held.conf_exten, site.user)       # late
    rows = {str(r["conf_exten"]): (r["extension"], r["leave_3way"]) for r in sql(
        site, "SELECT conf_exten, extension, leave_3way FROM vicidial_conferences")}
    assert rows[held.conf_exten] == ("SIP/other", "1")
    assert rows[other.conf_exten] == (other.tag, "0")
