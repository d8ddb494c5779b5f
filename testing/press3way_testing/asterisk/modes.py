"""The two ways the instance's Asterisk can run our AGI scripts: a process per call (the
scripts in its agi-bin, as installed by default), or one `press3way fastagi` server on the
host that every AGI() of the dialplan connects to (the block switched by `to_fastagi`).

One server serves a whole session: each scene points it at the scene's database (a SIGHUP
reload when that changes) and, when the scene ends, awaits the end of every call the scene
sent it, so no call of one scene is still writing when the next one starts.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import signal
import tempfile
from typing import Iterator

from press3way.fastagi.dialplan_urls import to_fastagi, to_per_call
from press3way_testing.asterisk.instance import Instance
from press3way_testing.fastagi import FastAGIServer
from press3way_testing.site import Site

PER_CALL, FASTAGI = "per-call", "fastagi"
MODES = (PER_CALL, FASTAGI)


def call_end(script: str = r"\S+") -> str:
    """The server's line at the end of each call (of `script`), see fastagi.calls.serve."""
    return rf"\|call \S+ {script} .*: status -?\d+ after"


CALL_END = call_end()
RELOADED = r"\|reloaded "
RELOAD_TIMEOUT_S = 10.0
CALLS_END_TIMEOUT_S = 20.0


class FastAGIMode:
    """A FastAGI server for a running instance, following the scene's site."""

    def __init__(self, instance: Instance, conf_path: pathlib.Path, max_calls: int = 200):
        self.instance = instance
        self.conf_path = conf_path
        self.max_calls = max_calls
        self.server: FastAGIServer | None = None
        self._conf_text = ""

    def block(self, block: str) -> str:
        """Our dialplan `block` with every AGI() through this server."""
        return to_fastagi(block, self.server.port)

    def start(self, site: Site) -> FastAGIMode:
        """The server started, serving `site`."""
        self._write_conf(site)
        self.server = FastAGIServer(str(self.conf_path), max_calls=self.max_calls).start()
        return self

    def _write_conf(self, site: Site) -> bool:
        """The server's config for `site`: its database, and the instance's AGI log directory
        as the host sees it (one log for the scene whatever the mode); True if it changed."""
        site.write_conf(str(self.conf_path), str(self.instance.host(self.instance.agi_logs)))
        before, self._conf_text = self._conf_text, self.conf_path.read_text()
        return self._conf_text != before

    def follow(self, site: Site) -> None:
        """Serve `site` from now on (a reload when its config differs)."""
        if self._write_conf(site):
            reloads = len(self.server.find(RELOADED))
            self.server.signal(signal.SIGHUP)
            if not self.server.wait_for_line(RELOADED, RELOAD_TIMEOUT_S, reloads + 1):
                raise RuntimeError(f"the FastAGI server did not reload {self.conf_path}")

    def lines(self, since: int = 0) -> list[str]:
        """The server's log lines (its own and the calls' stderr) from line `since` on."""
        return self.server.lines[since:]

    def wait_for_lines(self, pattern: str, count: int, since: int, timeout: float) -> bool:
        """Await `count` lines matching `pattern` from line `since` on (False: not in time)."""
        before = sum(1 for line in self.server.lines[:since] if re.search(pattern, line))
        return self.server.wait_for_line(pattern, timeout, before + count)

    def calls_ended(self) -> int:
        """How many calls the server has finished so far."""
        return len(self.server.find(CALL_END))

    def await_calls(self, ended_before: int, started: int) -> None:
        """Await the end of the `started` calls sent since `calls_ended()` was `ended_before`."""
        if not self.server.wait_for_line(CALL_END, CALLS_END_TIMEOUT_S, ended_before + started):
            unfinished = ended_before + started - self.calls_ended()
            raise AssertionError(f"{unfinished} of {started} FastAGI calls still running "
                                 f"{CALLS_END_TIMEOUT_S} s after their channels ended")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def switched(block: str, fastagi: FastAGIMode | None) -> str:
    """Our dialplan `block` in the scene's mode: through `fastagi`, or a process per step."""
    return fastagi.block(block) if fastagi is not None else to_per_call(block)


@contextlib.contextmanager
def fastagi_server(instance: Instance, site: Site, max_calls: int = 200
                   ) -> Iterator[FastAGIMode]:
    """A FastAGI server for `instance` serving `site`, its config in a directory of its own;
    stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="press3way-fastagi-") as work:
        mode = FastAGIMode(instance, pathlib.Path(work) / "astguiclient.conf", max_calls)
        try:
            yield mode.start(site)
        finally:
            mode.stop()
