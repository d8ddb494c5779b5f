"""Lookups and conference reservations in VICIdial's own tables, on the real database."""

from __future__ import annotations

import multiprocessing

import pytest

from press3way import vicidial
from tests.helpers import sql


def test_lead_from_caller_code():
    assert vicidial.lead_from_caller_code("DC123456W0001234567W") == 1234567
    assert vicidial.lead_from_caller_code("V1123123450000123456") == 123456
    assert vicidial.lead_from_caller_code("T2AHD89KG00001234567") is None


def test_session_user_and_server(site):
    conn = site.connect()
    assert vicidial.agent_session(conn, site.caller_code) == (site.server_ip, site.session)
    assert vicidial.agent_user(conn, site.lead_id, site.server_ip) == site.user
    assert vicidial.server(conn, site.server_ip).conference_exten("8600061") == "78600061"
    with pytest.raises(vicidial.NotFound, match="no vicidial_manager row"):
        vicidial.agent_session(conn, "DC999999W0000000001W")


def test_reservation_skips_own_session_and_release_gives_it_back(site):
    conn = site.connect()
    srv = vicidial.server(conn, site.server_ip)
    sql(site, "UPDATE vicidial_conferences SET extension = '' WHERE conf_exten = %s",
        (site.session,))
    first = vicidial.reserve_conference(conn, srv, site.user, site.session)
    assert first == "8600061"                      # not the agent's own 8600051
    vicidial.release_conference(conn, srv, first)
    assert vicidial.reserve_conference(conn, srv, site.user, site.session) == "8600061"


def _reserve(args) -> str | None:
    site, n = args
    conn = site.connect()
    srv = vicidial.server(conn, site.server_ip)
    return vicidial.reserve_conference(conn, srv, f"agent{n}", site.session)


def test_two_agents_never_get_the_same_conference(site):
    with multiprocessing.get_context("fork").Pool(6) as pool:
        got = pool.map(_reserve, [(site, n) for n in range(6)])
    reserved = [g for g in got if g is not None]
    assert len(reserved) == 3 and len(set(reserved)) == 3      # three free conferences
