"""The test server's own dialplan, entered as VICIdial's `servers.custom_dialplan_entry`.

An admin gives each server dialplan of its own on the Servers page; the keepalive writes it
into `[vicidial-auto-server-custom]`, which `[vicidial-auto]` (and so `[default]`) includes.
This server needs four things VICIdial's stock extensions.conf (written for MeetMe, which
Asterisk 22 no longer has) does not give it:
- ConfBridge rooms: the agents' sessions and 3-way rooms are `96000XX` (VICIdial's ConfBridge
  numbering, clear of the stock `[default]`'s MeetMe `8600XXX` patterns), reached by our legs
  as `8<conf>` (press3way.vicidial.Server.conference_exten);
- the rooms' kick: VICIdial's cleaner empties a room it frees by originating
  `Local/5555<conf>` (AST_conf_update_screen.pl 586-592); the stock file has it for MeetMe
  (`_55558600XXX`, MeetMeAdmin K), here ConfBridge's ConfKick;
- `person`: the agent's and the customer's stand-in, a Local channel sitting in the session;
- a carrier: outside dialstrings `9<number>` dial the party of that number (parties.py), so
  the outside call's far half hangs up in this context, where the keepalive put VICIdial's
  `h` line (its call logger sees that hang-up as it sees a carrier call's).
The four are also in OTHER_CONTEXT, with the stock `[default]`'s `h` line, for a server whose
`ext_context` is that context: a server that reaches nothing of `[default]`.
"""

from __future__ import annotations

from press3way_testing.asterisk.instance_dialplan import PARTY_CONTEXT, party_context
from press3way_testing.vicidial_server import vicidial_files

SESSION = "9600051"
ROOMS = (9600061, 9600062, 9600063)
OTHER_CONTEXT = "press3way-elsewhere"


def server_dialplan() -> str:
    """The server's own lines where `[default]` reaches them, again in OTHER_CONTEXT (a
    server whose `ext_context` is not `default`: only what the lines give it), then the
    parties."""
    return f"""{server_lines()}
[{OTHER_CONTEXT}]
{stock_hangup_line()}
{server_lines()}
{party_context()}"""


def stock_hangup_line() -> str:
    """The `h` line of VICIdial's stock `[default]` (its call logger on 4577)."""
    text = vicidial_files.host("extensions.conf.sample-18").read_text()
    return next(line for line in text.splitlines()
                if line.startswith("exten => h,1,AGI(agi://127.0.0.1:4577/call_log"))


def server_lines() -> str:
    return f"""exten => _9600XXX,1,ConfBridge(${{EXTEN}})
exten => _9600XXX,n,Hangup()
exten => _89600XXX,1,ConfBridge(${{EXTEN:1}})
exten => _89600XXX,n,Hangup()
exten => _55559600XXX,1,ConfKick(${{EXTEN:4}},all)
exten => _55559600XXX,n,Hangup()
exten => person,1,Answer()
exten => person,n,Wait(3600)
exten => person,n,Hangup()
exten => _9X.,1,Dial(Local/${{EXTEN:1}}@{PARTY_CONTEXT})
exten => _9X.,n,Hangup()
"""
