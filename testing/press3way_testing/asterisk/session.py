"""A running Asterisk for a whole session (tests, bench, `simulate --asterisk`)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from press3way_testing.asterisk.instance import Instance
from press3way_testing.asterisk.root import ensure_root
from press3way_testing.asterisk.scene import Scene
from press3way_testing.mariadb import throwaway_server
from press3way_testing.site import Site


@contextlib.contextmanager
def running_instance(block: str, keep_log: Callable[[str], None] | None = None
                     ) -> Iterator[Instance]:
    """Asterisk started with our dialplan `block`; stopped and removed afterwards (its full
    log handed to `keep_log` first)."""
    instance = Instance(ensure_root(), block)
    try:
        instance.prepare()
        instance.start()
        yield instance
    finally:
        instance.stop()
        if keep_log is not None:
            keep_log(instance.log_text())
        instance.remove()


@contextlib.contextmanager
def running_scene(block: str, server: dict | None = None, engine: str = "InnoDB"
                  ) -> Iterator[Scene]:
    """Asterisk and a VICIdial site (on a throwaway MariaDB unless `server` is given)."""
    with contextlib.ExitStack() as stack:
        if server is None:
            server = stack.enter_context(throwaway_server())
        site = Site(server=server, db_name="press3way_asterisk")
        site.create(engine)
        instance = stack.enter_context(running_instance(block))
        yield Scene(instance, site)
