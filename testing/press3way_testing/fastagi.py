"""A real `press3way fastagi` server in a child process, for the fake-AGI harness to call.

Its stderr (the server's log and the calls' AGI log lines) is read by a thread: a `CallWatch`
collects the lines of one call and wakes when the server logs that call's end, since the
server may go on with a call's clean-up after Asterisk's side of the AGI has ended.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field

_LISTENING = re.compile(r"\|listening on 127\.0\.0\.1:(\d+),")
# `call <uniqueid> <script> <channel>: status N after S s` (a channel name may hold spaces)
_CALL_END = re.compile(r"\|call (\S+) \S+ .*: status (-?\d+) after [\d.]+ s$")


@dataclass
class CallWatch:
    """What the server logs about one call (by uniqueid; its lines by channel name)."""
    uniqueid: str
    channel: str
    lines: list[str] = field(default_factory=list)
    status: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)


class FastAGIServer:
    """`press3way fastagi --port 0 ...` with `config_path`, started and stopped by the caller.
    Its peers (the fake AGI, the chrooted Asterisk) run as the harness's own user, the one
    `--peer-user` names by default."""

    def __init__(self, config_path: str, *, max_calls: int = 200, stop_timeout: float = 30,
                 extra_env: dict[str, str] | None = None,
                 peer_users: tuple[str, ...] = (str(os.getuid()),), options: tuple[str, ...] = ()):
        self.config_path, self.max_calls, self.stop_timeout = config_path, max_calls, stop_timeout
        self.extra_env = extra_env or {}
        self.peer_users, self.options = peer_users, options
        self.port = 0
        self.lines: list[str] = []
        self._watches: dict[str, CallWatch] = {}
        self._changed = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._exited = False

    def start(self, timeout: float = 20) -> FastAGIServer:
        command = [os.path.join(os.path.dirname(sys.executable), "press3way"), "fastagi",
                   "--port", "0", "--max-calls", str(self.max_calls),
                   "--stop-timeout", str(self.stop_timeout), "--config", self.config_path,
                   *(arg for user in self.peer_users for arg in ("--peer-user", user)),
                   *self.options]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=dict(os.environ, **self.extra_env))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.wait_for_line(_LISTENING.pattern, timeout):
            self.stop()
            raise RuntimeError(f"press3way fastagi did not start: {''.join(self.lines)[-500:]}")
        self.port = int(_LISTENING.search(self.find(_LISTENING.pattern)[0]).group(1))
        return self

    def _read(self) -> None:
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            with self._changed:
                self.lines.append(line)
                for watch in self._watches.values():
                    if f"|{watch.channel}|" in line:
                        watch.lines.append(line)
                ended = _CALL_END.search(line)
                watch = self._watches.pop(ended.group(1), None) if ended else None
                if watch is not None:
                    watch.lines.append(line)
                    watch.status = int(ended.group(2))
                    watch.ended.set()
                self._changed.notify_all()
        with self._changed:             # the server is gone: nobody will end these calls
            self._exited = True
            for watch in self._watches.values():
                watch.ended.set()
            self._changed.notify_all()

    def watch(self, uniqueid: str, channel: str) -> CallWatch:
        """Follow a call about to start (before connecting, so no line is missed)."""
        watch = CallWatch(uniqueid, channel)
        with self._changed:
            self._watches[uniqueid] = watch
        return watch

    def pending(self) -> list[CallWatch]:
        """The followed calls the server has not logged the end of."""
        with self._changed:
            return list(self._watches.values())

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every followed call has ended (or the server is gone)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._watches or self._exited, timeout)

    def find(self, pattern: str) -> list[str]:
        with self._changed:
            return [line for line in self.lines if re.search(pattern, line)]

    def wait_for_line(self, pattern: str, timeout: float, count: int = 1) -> bool:
        """Wait until `count` lines of the log match `pattern` (False: not within timeout)."""
        def enough() -> bool:
            return len(self.find(pattern)) >= count

        with self._changed:
            self._changed.wait_for(lambda: enough() or self._exited, timeout)
            return enough()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, then wait for the exit (killed if it takes longer than `timeout`)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            if self._reader is not None:
                self._reader.join(5)

    def __enter__(self) -> FastAGIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
