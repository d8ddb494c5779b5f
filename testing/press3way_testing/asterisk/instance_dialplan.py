"""The instance's dialplan: our extensions_custom.conf as it stands, inside a test [default].

[default] stands in for VICIdial's ext_context: `49949907...` reaches our block (its first
lines are included here, as VICIdial includes the custom entry from [default]), the agents'
sessions and 3-way conferences are ConfBridges (this Asterisk has no MeetMe), and every
outside dialstring `9<number>` goes to a party that behaves as its AstDB schedule says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BLOCK_FILE = "press3way_block.conf"
PARTY_CONTEXT = "press3way-party"
PARTY_FAMILY = "party"       # AstDB family: party/<number>/<key>, see parties.py


@dataclass(frozen=True)
class Timeouts:
    """The four timeouts of the block's flags (docs/behaviour.md, "The dialplan"), in seconds."""
    agent: int = 50
    dial: int = 30
    press: int = 20
    accept: int = 10


def block_with_timeouts(block: str, t: Timeouts) -> str:
    """Our block with other numbers in its flags (comments untouched); otherwise unchanged."""
    lines = block.split("\n")
    for pattern, new in ((r"start---\d+---\d+", f"start---{t.agent}---{t.dial}"),
                         (r"WaitExten\(\d+\)", f"WaitExten({t.press})"),
                         (r"accepted---\d+", f"accepted---{t.accept}")):
        found = 0
        for n, line in enumerate(lines):
            if not line.lstrip().startswith(";"):
                lines[n], count = re.subn(pattern, new, line)
                found += count
        if found != 1:
            raise ValueError(f"the dialplan block has {found} uses of {pattern!r}, not one")
    return "\n".join(lines)


def extensions_conf() -> str:
    """[default] with the test's stand-ins, then our block included as VICIdial does."""
    return f"""[general]
static = yes
writeprotect = yes
clearglobalvars = yes

[globals]
; VICIdial's loop trunk; here a Local-channel hop back into [default]
TRUNKloop = Local

[default]
; the agent's session (Originate Channel: Local/8600051@default) and VICIdial's 7<conf>
exten => _8600XXX,1,ConfBridge(${{EXTEN}})
exten => _8600XXX,n,Hangup()
exten => _78600XXX,1,ConfBridge(${{EXTEN:1}})
exten => _78600XXX,n,Hangup()
; the 3-way conference as our legs reach it with conf_engine CONFBRIDGE: 8<conf>
exten => _88600XXX,1,ConfBridge(${{EXTEN:1}})
exten => _88600XXX,n,Hangup()
; a stand-in agent or customer: a Local channel that sits in the conference until hung up
exten => person,1,Answer()
exten => person,n,Wait(3600)
exten => person,n,Hangup()
; outside dialstrings (Local/9<number>@default): the party with that number
exten => _9X.,1,Goto({PARTY_CONTEXT},${{EXTEN:1}},1)

#include {BLOCK_FILE}

{party_context()}"""


def party_context() -> str:
    """The parties' own context: ring, then what each number's AstDB schedule says."""
    return f"""[{PARTY_CONTEXT}]
; ring, then busy / never answer / answer; pressing keys and hanging up at set seconds
exten => _X.,1,Set(P={PARTY_FAMILY}/${{EXTEN}})
exten => _X.,n,Set(MODE=${{DB(${{P}}/mode)}})
exten => _X.,n,GotoIf($["${{MODE}}" = "congestion"]?congestion)
exten => _X.,n,Ringing()
exten => _X.,n,Wait(${{DB(${{P}}/ring)}})
exten => _X.,n,GotoIf($["${{MODE}}" = "busy"]?busy)
exten => _X.,n,GotoIf($["${{MODE}}" = "noanswer"]?never)
exten => _X.,n,Answer()
exten => _X.,n,Set(PRESS_AT=${{DB(${{P}}/press_at)}})
exten => _X.,n,Set(HANGUP_AT=${{DB(${{P}}/hangup_at)}})
exten => _X.,n,GotoIf($["${{PRESS_AT}}" = ""]?idle)
exten => _X.,n,Wait(${{PRESS_AT}})
exten => _X.,n,SendDTMF(${{DB(${{P}}/digits)}})
exten => _X.,n,Set(HANGUP_AT=$[${{HANGUP_AT}} - ${{PRESS_AT}}])
exten => _X.,n(idle),GotoIf($[${{HANGUP_AT}} <= 0]?gone)
exten => _X.,n,Wait(${{HANGUP_AT}})
exten => _X.,n(gone),Hangup()
exten => _X.,n(busy),Busy(10)
exten => _X.,n(congestion),Congestion(10)
exten => _X.,n(never),Wait(3600)
"""
