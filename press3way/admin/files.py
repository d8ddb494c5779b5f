"""Changing an administrator's files all together or not at all.

Every new content is first written to a temporary file in the target's own directory and
fsynced (a full disk or a read-only file system fails here, before any file changed); then
the temporaries are renamed over their targets, which is atomic per file; a rename that fails
puts back the ones already done. A replaced file keeps its mode and owner.

Agi-bin or the Asterisk directory may be writable by others (Asterisk's user, a web server):
a temporary file is written, chmodded and chowned only through the descriptor that created
it, never reopened by name, and is renamed only while it is still that file; a symlink is
never followed nor replaced unless it is ours (root's, or the user's running this).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterator

TEMP_PREFIX = ".press3way-"


class FileChangeError(Exception):
    """A file could not be changed; none was."""


def describe(exc: OSError, path: str) -> str:
    """One line an administrator can act on."""
    if exc.errno == errno.ENOSPC:
        return f"no space left on the file system of {path}: free some space, then run it again"
    if exc.errno == errno.EROFS:
        return f"{path} is on a read-only file system: remount it read-write, then run it again"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to change {path}: run it as root (or as the file's owner)"
    return f"{path}: {exc.strerror or exc}"


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def free_bytes(directory: str) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def writable_problem(directory: str, needed: int) -> str | None:
    """Why files of `needed` bytes cannot be written into `directory`, or None."""
    if not os.path.isdir(directory):
        return f"the directory {directory} does not exist"
    if os.statvfs(directory).f_flag & os.ST_RDONLY:
        return f"{directory} is on a read-only file system: remount it read-write"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"no permission to write into {directory}: run it as root"
    free = free_bytes(directory)
    if free < needed:
        return (f"the file system of {directory} has {free} bytes free, {needed} are needed: "
                "free some space")
    return None


@dataclass
class _Step:
    do: Callable[[], None]
    undo: Callable[[], None]


@dataclass
class Changes:
    """File changes staged now and applied together by `commit`; with `dry_run` nothing is
    staged (not even a temporary file)."""
    dry_run: bool = False
    _temps: list[str] = field(default_factory=list)
    _steps: list[_Step] = field(default_factory=list)

    # --- staging (nothing visible changes) ---------------------------------------------
    def write(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """`path` gets `data`; an existing file keeps its owner and mode (`mode` for a new one;
        an executable gets its execute bits kept)."""
        if self.dry_run:
            return
        old = self._existing(path)
        kept = old if old is not None and stat.S_ISREG(old.st_mode) else None  # not a link's
        keep_mode = stat.S_IMODE(kept.st_mode) if kept else mode
        fd, temp = self._temp_file(path)
        try:
            os.fchmod(fd, keep_mode | (mode & 0o111))
            if kept and (kept.st_uid, kept.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, kept.st_uid, kept.st_gid)
            _write_all(fd, data)
            os.fsync(fd)
            made = os.fstat(fd)
        except OSError as exc:
            self.discard()
            raise FileChangeError(describe(exc, path)) from None
        finally:
            os.close(fd)
        self._replace(temp, path, made)

    def symlink(self, path: str, source: str) -> None:
        if self.dry_run:
            return
        self._existing(path)
        temp = self._temp_name(path)
        try:
            os.symlink(source, temp)
            made = os.lstat(temp)
        except OSError as exc:
            self.discard()
            raise FileChangeError(describe(exc, path)) from None
        self._replace(temp, path, made)

    def keep_as(self, path: str, backup: str) -> None:
        """The file now at `path` is also kept as `backup` (a hard link: no space needed)."""
        self._add(lambda: os.link(path, backup, follow_symlinks=False),
                  lambda: os.unlink(backup))

    def move(self, source: str, path: str) -> None:
        """`source` (a backup) goes back to `path`, replacing what is there."""
        if self.dry_run:
            return
        saved = self._temp_name(path)

        def undo() -> None:
            os.rename(path, source)
            os.rename(saved, path)

        self._add(lambda: _link_then_rename(path, saved, source), undo)

    def remove(self, path: str) -> None:
        if self.dry_run:
            return
        saved = self._temp_name(path)
        self._add(lambda: os.rename(path, saved), lambda: os.rename(saved, path))

    def _add(self, do: Callable[[], None], undo: Callable[[], None]) -> None:
        if not self.dry_run:
            self._steps.append(_Step(do, undo))

    def _existing(self, path: str) -> os.stat_result | None:
        """What is at `path` now; a symlink somebody else made there is refused."""
        st = _lstat(path)
        if st is not None and _foreign_link(st):
            self.discard()
            raise _foreign_link_error(path, st)
        return st

    def _temp_file(self, path: str) -> tuple[int, str]:
        """A new temporary file beside `path` (mkstemp: 0600, never through a symlink) and
        the descriptor it is to be written through."""
        directory, name = os.path.split(os.path.abspath(path))
        try:
            fd, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name}.", dir=directory)
        except OSError as exc:
            self.discard()
            raise FileChangeError(describe(exc, path)) from None
        self._temps.append(temp)
        return fd, temp

    def _temp_name(self, path: str) -> str:
        """A free name beside `path`, for a link or a saved old version."""
        fd, temp = self._temp_file(path)
        os.close(fd)
        os.unlink(temp)
        return temp

    def _replace(self, temp: str, path: str, made: os.stat_result) -> None:
        saved = self._temp_name(path)
        existed = os.path.lexists(path)

        def do() -> None:
            _still_ours(temp, made)
            if existed:
                os.link(path, saved, follow_symlinks=False)
            os.rename(temp, path)

        def undo() -> None:
            if existed:
                os.rename(saved, path)
            else:
                os.unlink(path)
        self._add(do, undo)

    # --- applying ------------------------------------------------------------------------
    def commit(self, then: Callable[[], None] | None = None) -> None:
        """Apply every step, then `then` (a change elsewhere, such as the database); if any
        of it fails, undo the steps done and raise. Signals that would stop the process wait
        until it is over (a few renames)."""
        done: list[_Step] = []
        with _signals_deferred():
            try:
                try:
                    for step in self._steps:
                        step.do()
                        done.append(step)
                except OSError as exc:
                    raise FileChangeError(describe(exc, exc.filename or "a file")) from None
                if then is not None:
                    then()
            except BaseException:
                for step in reversed(done):
                    with contextlib.suppress(OSError):
                        step.undo()
                self.discard()
                raise
            for directory in {os.path.dirname(t) for t in self._temps}:
                _fsync_dir(directory)
        self.discard()

    def discard(self) -> None:
        """Remove every temporary file (after a commit: the saved old versions); one on a file
        system that has gone read-only stays, a hidden file beside its target."""
        for temp in self._temps:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self._temps.clear()
        self._steps.clear()


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _foreign_link(st: os.stat_result) -> bool:
    """A symlink we did not make, where others may write, could point our write anywhere."""
    return stat.S_ISLNK(st.st_mode) and st.st_uid not in (0, os.geteuid())


def _foreign_link_error(path: str, st: os.stat_result) -> FileChangeError:
    return FileChangeError(f"{path} is a symbolic link made by uid {st.st_uid}, not by root: "
                           "press3way never writes through or over it; check who made it, "
                           "remove it, then run it again")


def own_path(path: str) -> str:
    """`path` with its symlinks resolved (through a link of the admin's the file it points at
    changes, the link stays), refusing one made by somebody else."""
    path = os.path.abspath(path)
    for _ in range(40):                          # the kernel's own limit on links in a row
        st = _lstat(path)
        if st is None or not stat.S_ISLNK(st.st_mode):
            directory, name = os.path.split(path)
            return os.path.join(os.path.realpath(directory), name)
        if _foreign_link(st):
            raise _foreign_link_error(path, st)
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    raise FileChangeError(f"{path}: too many levels of symbolic links")


def _still_ours(temp: str, made: os.stat_result) -> None:
    """The temporary file is still the one we wrote (nobody renamed another in its place)."""
    now = _lstat(temp)
    if now is None or (now.st_dev, now.st_ino) != (made.st_dev, made.st_ino):
        raise FileChangeError(f"{temp} was replaced while press3way wrote it: someone else "
                              f"writes into {os.path.dirname(temp)}; make it writable by root "
                              "only, then run it again")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _link_then_rename(path: str, saved: str, source: str) -> None:
    os.link(path, saved, follow_symlinks=False)
    os.rename(source, path)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT, SIGHUP, SIGTERM and SIGPIPE wait until the block is over, then act."""
    names = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE)
    caught: list[int] = []
    try:
        previous = {s: signal.signal(s, lambda n, _f: caught.append(n)) for s in names}
    except ValueError:                       # not the main thread: nothing to defer
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for number in caught:
            if number != signal.SIGPIPE:
                signal.raise_signal(number)
