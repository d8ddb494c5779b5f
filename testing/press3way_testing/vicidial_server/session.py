"""The tier's VICIdial server for a whole session, brought up the way a server comes up:

1. VICIdial's database (schema, first server) and this server's settings (database.py);
2. `press3way install --vicidial` run on the server: our tables, our scripts in agi-bin, our
   block in System Settings' Custom Dialplan Entry (flagged for a rebuild);
3. VICIdial's keepalive (`ADMIN_keepalive_ALL.pl`) rebuilds the conf files from the database:
   extensions-vicidial.conf (the entry under `[vicidial-auto-system-setting-custom]`) and
   iax-vicidial.conf (the `ASTloop` trunk);
4. Asterisk starts and loads them; VICIdial's call logger (`FastAGI_log.pl`, 4577), its
   manager queue sender (`AST_manager_send.pl`, which runs only beside its listener
   `AST_manager_listen.pl`) and its ConfBridge cleaner
   (`AST_conf_update_screen.pl`) start and run for the whole session.

A switch of mode or ext_context (`use`) is `press3way install --vicidial
--fastagi|--per-call`, then the keepalive again, then a dialplan reload: VICIdial's
keepalive reloads through the console of an Asterisk it expects in a `screen` session
named `asterisk` (`screen -XS asterisk eval ...`), which this Asterisk is not, so the tier
sends that one command over the manager itself.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import socket
import time
from typing import Callable, Iterator, TypeVar

from press3way.database import execute
from press3way_testing.asterisk import root as asterisk_root
from press3way_testing.asterisk import sounds
from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts
from press3way_testing.asterisk.recorder import WaitTimeout
from press3way_testing.site import Site
from press3way_testing.vicidial_server import database, vicidial_files
from press3way_testing.vicidial_server.root import VICIDIAL
from press3way_testing.vicidial_server.server import VicidialInstance, vicidial_mounted

T = TypeVar("T")
FASTAGI_LOG_PORT = 4577
LISTEN_TIMEOUT_S = 20.0
POLL_S = 0.05


def why_unavailable() -> str:
    """'' when the tier can run here; else its one-line reason."""
    reason = vicidial_files.why_missing() or asterisk_root.why_not_buildable(VICIDIAL)
    if not reason:
        missing = sounds.missing_vicidial_sounds()
        reason = f"needs VICIdial's sounds ({', '.join(missing)})" if missing else ""
    if not reason:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", FASTAGI_LOG_PORT))
            except OSError:
                reason = f"port {FASTAGI_LOG_PORT} (VICIdial's call logger) is taken here"
    return reason


def shipped_block_with(instance: VicidialInstance, timeouts: Timeouts) -> None:
    """The block `install` ships, in the instance's copy of the package, with the tier's short
    flags (what an admin may edit in the entry): every outcome comes within seconds."""
    shipped = instance.host_dir / "code" / "press3way" / "data" / "extensions_custom.conf"
    shipped.write_text(block_with_timeouts(shipped.read_text(), timeouts))


class VicidialServer:
    """The running server: its instance, its site (database), its mode."""

    def __init__(self, instance: VicidialInstance, site: Site):
        self.instance, self.site = instance, site
        self.fastagi_port: int | None = None          # as the first install leaves it
        self.ext_context = "default"

    def install(self, *flags: str) -> str:
        return self.instance.press3way(
            "install", "--vicidial", "--agi-dir", f"{self.instance.base}/agi-bin",
            "--asterisk-dir", f"{self.instance.base}/etc", *flags)

    def keepalive(self) -> str:
        """One run of VICIdial's keepalive (cron runs it every minute); its output. What
        limits it is astguiclient.conf's `VARactive_keepalives => X` (it starts none of
        VICIdial's screens); it has no option that would."""
        out = self.instance.perl("ADMIN_keepalive_ALL.pl", "--debug")
        self.instance.keep_output("ADMIN_keepalive_ALL.pl", out)
        return out

    def use(self, fastagi_port: int | None, ext_context: str = "default") -> None:
        """Our block through the FastAGI server on `fastagi_port`, or per-call (None), on a
        server whose `ext_context` (where VICIdial originates the 3-way call) is that."""
        if (fastagi_port, ext_context) == (self.fastagi_port, self.ext_context):
            return
        with self.site.connect() as conn:
            execute(conn, "UPDATE servers SET ext_context = %s WHERE server_ip = %s",
                    (ext_context, self.site.server_ip))
        flags = ("--fastagi", "--port", str(fastagi_port)) if fastagi_port else ("--per-call",)
        self.install(*flags)
        self.keepalive()
        reply = self.instance.recorder.action("Command", Command="dialplan reload")
        if reply.get("Response") not in ("Success", "Follows"):
            raise RuntimeError(f"dialplan reload refused: {reply.get('Message')}")
        self.fastagi_port, self.ext_context = fastagi_port, ext_context

    def start_programs(self) -> None:
        self.instance.start_daemon("FastAGI_log.pl", "--debug")
        await_port(FASTAGI_LOG_PORT, self.instance, "FastAGI_log.pl")
        self.instance.start_daemon("AST_manager_listen.pl")
        self.instance.start_daemon("AST_manager_send.pl")
        self.instance.start_daemon("AST_conf_update_screen.pl", "--debug")


def poll_until(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """Look every POLL_S until `condition()` is truthy (a table row, a log line, a port:
    nothing sends an event for them); its value, or WaitTimeout after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"waited {timeout} s for {what}")
        time.sleep(POLL_S)


def await_port(port: int, instance: VicidialInstance, name: str) -> None:
    def listening() -> bool:
        process = instance.daemons[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited {process.returncode}: "
                               + instance.daemon_output(name)[-400:])
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        return False
    poll_until(listening, LISTEN_TIMEOUT_S, f"{name} to listen on {port}")


@contextlib.contextmanager
def running_server(server: dict, timeouts: Timeouts,
                   keep_log: pathlib.Path | None = None) -> Iterator[VicidialServer]:
    """The VICIdial server up on MariaDB `server`; stopped and removed afterwards."""
    root = asterisk_root.ensure_root(log=lambda _line: None, kind=VICIDIAL)
    site = database.new_site(server)
    database.create(site)
    with vicidial_mounted(root):
        instance = VicidialInstance(root)
        try:
            instance.prepare()
            shipped_block_with(instance, timeouts)
            database.configure_server(site, instance.ami_port, asterisk_version(instance))
            instance.write_astguiclient(site)
            vicidial = VicidialServer(instance, site)
            vicidial.install("--per-call")
            vicidial.keepalive()
            instance.start()
            vicidial.start_programs()
            yield vicidial
        finally:
            instance.stop()
            if keep_log is not None:
                keep_log.write_text(instance.log_text())
            instance.remove()


def asterisk_version(instance: VicidialInstance) -> str:
    """`22.x.y` from the root's ready mark (what an admin enters on the Servers page)."""
    mark = (instance.root / asterisk_root.READY_MARK).read_text()
    found = re.search(r"(\d+\.\d+\.\d+)", mark)
    return found.group(1) if found else "22.0.0"
