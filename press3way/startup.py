"""The first lines of a per-call AGI script, kept short because every call pays for them.

`begin` installs the SIGHUP handler, reads the AGI environment and sends the script's first
commands (`ask`) before anything slow is imported, so Asterisk answers them while the rest
loads. It also makes the standard modules that PyMySQL and pyst2 import, but a call never
uses, load only when something first uses them (an error's traceback, TLS when VARDB_ssl asks
for it, pyst2's debug output): about a third of the interpreter's start.
"""

from __future__ import annotations

import sys

from .telephony import hangup
from .telephony.agi import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:       # annotations only: `typing` costs every call's start-up
    from typing import Callable, Sequence

LOADED_WHEN_USED = ("traceback", "ssl", "pprint")


def begin(ask: Sequence[str] = ()) -> Callable[[], Channel]:
    """Everything a per-call script does first; what its leg's `main` makes its channel with
    (a channel that could not be read raises there, where the AGI log says why)."""
    hangup.install()        # first: a hang-up during start-up is acted on, never lost
    for name in LOADED_WHEN_USED:
        load_when_used(name)
    try:
        channel = Channel(ask=ask)
    except Exception as exc:            # noqa: BLE001 - reported by the runner's log
        failure = exc

        def failed() -> Channel:
            raise failure
        return failed
    return lambda: channel


def end() -> None:
    """The work is done: a hang-up now must not kill the interpreter's shutdown."""
    hangup.ignore()


def load_when_used(name: str) -> None:
    """Put a stand-in for module `name` in sys.modules that imports the real one the first time
    one of its attributes is read, and becomes it. (importlib's LazyLoader cannot do this: an
    `import name` statement elsewhere reads the module's __spec__, which loads it.)"""
    if name in sys.modules:
        return
    stand_in = type(sys)(name)

    def load(attribute: str) -> object:
        del stand_in.__getattr__
        del sys.modules[name]
        real = __import__(name)
        vars(stand_in).update(vars(real))
        return getattr(real, attribute)

    stand_in.__getattr__ = load  # type: ignore[method-assign]  # see above
    sys.modules[name] = stand_in
