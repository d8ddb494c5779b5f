"""FastAGI mode: one long-running server runs both legs for every call, instead of one
process per AGI step (Asterisk's `AGI(agi://127.0.0.1:4577/<script>,<args>)`).

`pool` keeps the database connections, `calls` runs one call on its connection, `server`
accepts, caps and reloads. This module holds only the defaults (the CLI reads them cheaply).
"""

DEFAULT_PORT = 4577
DEFAULT_MAX_CALLS = 200
DEFAULT_STOP_TIMEOUT_S = 150    # longer than any call: agent timeout 100 s + accept wait
