"""FastAGI mode: one long-running server runs both legs for every call, instead of one
process per AGI step (Asterisk's `AGI(agi://127.0.0.1:4578/<script>,<args>)`).

`peers` says who may connect (Asterisk's user), `request` reads and checks what a peer sends
(and the probe that recognises our server), `pool` keeps the database connections, `calls`
runs one call on its connection, `server` accepts, caps and reloads. This module holds only
the defaults (the CLI reads them cheaply).
"""

# 4577 is VICIdial's call logger (bin/FastAGI_log.pl, called from the h extension of every
# [default] call); 4573 is Asterisk's default for agi://host/ that other services take.
DEFAULT_PORT = 4578
VICIDIAL_PORT = 4577
DEFAULT_MAX_CALLS = 200
DEFAULT_MAX_DB_CONNECTIONS = 100    # and never more than half the database's max_connections
DEFAULT_STOP_TIMEOUT_S = 150    # longer than any call: agent timeout 100 s + accept wait


def vicidial_port_error(port: int) -> str | None:
    """The one-line refusal of VICIdial's port, or None."""
    if port != VICIDIAL_PORT:
        return None
    return (f"port {VICIDIAL_PORT} is VICIdial's FastAGI call logger (FastAGI_log.pl, run from "
            f"the h extension of every call): use another, e.g. {DEFAULT_PORT} (the default)")
