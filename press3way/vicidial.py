"""Lookups in VICIdial's own tables (SPEC section 9): servers, sessions, agents, conferences."""

from __future__ import annotations

import random
import re
import time
from .lean_dataclass import lean_dataclass

import pymysql

from .database import execute, query

_LEAD_FROM_DC = re.compile(r"^DC\d{6}W(\d{10})W")
_LEAD_FROM_VYM = re.compile(r"^[VYM]\d{19}")
_EXTEN_LINE = re.compile(r"Exten:\s*(\S+)")
# Reserving: tries, and how many free conferences a retry picks from at random.
RESERVE_ATTEMPTS = 5
RESERVE_SPREAD = 50
_TAG_STAMP_CHARS = 14          # a reservation tag ends in YYYYMMDDhhmmss
# What VICIdial's cleaners append to a leave-3way room's extension as they count it down.
_CLEANER_ENDS = ("", "Xtimeout3", "Xtimeout2", "Xtimeout1")
_LEFT_MARKS = ", ".join(["%s"] * len(_CLEANER_ENDS))


class NotFound(Exception):
    """A VICIdial row the call needs is missing."""


@lean_dataclass(frozen=True)
class Server:
    server_ip: str
    ext_context: str
    conf_engine: str
    outbound_calls_per_second: int
    agi_output: str
    telnet_host: str
    telnet_port: int
    ami_user: str
    ami_secret: str

    @property
    def confbridge(self) -> bool:
        return (self.conf_engine or "").upper() == "CONFBRIDGE"

    @property
    def conference_table(self) -> str:
        return "vicidial_confbridges" if self.confbridge else "vicidial_conferences"

    def conference_exten(self, conf_exten: str) -> str:
        """Dialing 7<conf> joins a MeetMe room, 8<conf> a ConfBridge."""
        return ("8" if self.confbridge else "7") + str(conf_exten)


def server(conn: pymysql.Connection, server_ip: str) -> Server:
    rows = query(conn, "SELECT server_ip, ext_context, conf_engine, outbound_calls_per_second, "
                       "agi_output, telnet_host, telnet_port, ASTmgrUSERNAME, ASTmgrSECRET "
                       "FROM servers WHERE server_ip = %s LIMIT 1", (server_ip,))
    if not rows:
        raise NotFound(f"no servers row for server_ip {server_ip}")
    r = rows[0]
    return Server(r["server_ip"], r["ext_context"] or "default", r["conf_engine"] or "MEETME",
                  int(r["outbound_calls_per_second"] or 0), r["agi_output"] or "NONE",
                  r["telnet_host"] or "localhost", int(r["telnet_port"] or 5038),
                  r["ASTmgrUSERNAME"] or "", r["ASTmgrSECRET"] or "")


def lead_from_caller_code(caller_code: str) -> int | None:
    """`DC` + 6 digits + `W` + 10-digit lead + `W`, or `V`/`Y`/`M` + 19 digits (lead = 10-19)."""
    m = _LEAD_FROM_DC.match(caller_code or "")
    if m:
        return int(m.group(1))
    if _LEAD_FROM_VYM.match(caller_code or ""):
        return int(caller_code[10:20])
    return None


def agent_session(conn: pymysql.Connection, caller_code: str) -> tuple[str, str]:
    """(server_ip, session) from the newest vicidial_manager row for this caller code."""
    rows = query(conn, "SELECT server_ip, cmd_line_d FROM vicidial_manager WHERE callerid = %s "
                       "ORDER BY entry_date DESC, man_id DESC LIMIT 1", (caller_code,))
    if not rows:
        raise NotFound(f"no vicidial_manager row for caller code {caller_code}")
    m = _EXTEN_LINE.search(rows[0]["cmd_line_d"] or "")
    if not m:
        raise NotFound(f"vicidial_manager row for {caller_code} has no session "
                           f"(cmd_line_d={rows[0]['cmd_line_d']!r})")
    return rows[0]["server_ip"], m.group(1)


def agent_user(conn: pymysql.Connection, session: str, server_ip: str) -> str:
    """The agent in this session on this server (by session, not by lead: two agents can
    hold one lead, and a lead id of 0 matches any idle agent)."""
    rows = query(conn, "SELECT user FROM vicidial_live_agents WHERE conf_exten = %s "
                       "AND server_ip = %s ORDER BY live_agent_id DESC LIMIT 1",
                 (session, server_ip))
    if not rows or not rows[0]["user"]:
        raise NotFound(f"no live agent in session {session} on {server_ip}")
    return rows[0]["user"]


@lean_dataclass(frozen=True)
class Reservation:
    """A conference held for one transfer: `tag` is what its extension column says."""
    conf_exten: str
    tag: str


def reservation_tag(user: str) -> str:
    """What a reserved conference's extension says (VICIdial's own format): one per batch, so
    a batch can give back what it reserved even when it never learnt which conference."""
    return f"Local/8300{user}{time.strftime('%Y%m%d%H%M%S')}"


def reserve_conference(conn: pymysql.Connection, srv: Server, tag: str,
                       own_session: str) -> Reservation | None:
    """Claim a free conference: pick one, then take it only if it is still free (so two
    agents never get the same one, and a lost reply is settled by reading the row back).
    The lowest free one first; after losing it to another agent, one picked at random among
    the free ones, so agents reserving in the same instant stop colliding on the same row.
    None when none is free."""
    table = srv.conference_table
    for attempt in range(RESERVE_ATTEMPTS):
        rows = query(conn, f"SELECT conf_exten FROM {table} WHERE server_ip = %s "
                           "AND (extension = '' OR extension IS NULL) AND conf_exten <> %s "
                           "ORDER BY conf_exten LIMIT %s",
                     (srv.server_ip, own_session, 1 if attempt == 0 else RESERVE_SPREAD))
        if not rows:
            return None
        conf = str((rows[0] if attempt == 0 else random.choice(rows))["conf_exten"])
        if execute(conn, f"UPDATE {table} SET extension = %s, leave_3way = '0' "
                         "WHERE server_ip = %s AND conf_exten = %s "
                         "AND (extension = '' OR extension IS NULL)",
                   (tag, srv.server_ip, conf),
                   check=lambda: query(conn, f"SELECT 1 FROM {table} WHERE server_ip = %s "
                                             "AND conf_exten = %s AND extension = %s",
                                       (srv.server_ip, conf, tag))):
            return Reservation(conf, tag)
    return None


def mark_conference_left(conn: pymysql.Connection, srv: Server, conf_exten: str, user: str) -> None:
    """A channel of ours is in the room (the agent leg, and the winner unless it hung up on
    the way): the room becomes the agent's leave-3way, which VICIdial's conference cleaners
    (AST_conf_update_screen.pl, AST_conf_update_3way.pl) watch: they kick a lone leg and set
    the room free. Only while the room is still this user's (reserved for it, or already so
    marked): a room VICIdial freed and handed on meanwhile is left alone."""
    reserved, left = f"Local/8300{user}", f"3WAY_{user}"
    execute(conn, f"UPDATE {srv.conference_table} SET leave_3way = '1', "
                  "leave_3way_datetime = NOW(), extension = %s "
                  "WHERE server_ip = %s AND conf_exten = %s AND ((LEFT(extension, %s) = %s "
                  f"AND CHAR_LENGTH(extension) = %s) OR extension IN ({_LEFT_MARKS}))",
            (left, srv.server_ip, conf_exten, len(reserved), reserved,
             len(reserved) + _TAG_STAMP_CHARS, *(left + end for end in _CLEANER_ENDS)))


def release_conference(conn: pymysql.Connection, srv: Server, held: Reservation) -> None:
    """Give back a conference reserved for a transfer that did not happen (only while it
    still carries our reservation)."""
    execute(conn, f"UPDATE {srv.conference_table} SET extension = '' WHERE server_ip = %s "
                  "AND conf_exten = %s AND extension = %s",
            (srv.server_ip, held.conf_exten, held.tag))


def release_tagged(conn: pymysql.Connection, srv: Server, tag: str, keep: str = "") -> None:
    """Give back every conference still carrying this batch's reservation tag, but `keep`
    (a room a channel of ours may be in)."""
    spare, params = ("AND conf_exten <> %s", (keep,)) if keep else ("", ())
    execute(conn, f"UPDATE {srv.conference_table} SET extension = '' WHERE server_ip = %s "
                  f"AND extension = %s {spare}", (srv.server_ip, tag, *params))
