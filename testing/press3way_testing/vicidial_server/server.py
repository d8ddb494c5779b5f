"""A VICIdial server in the VICIdial-server root: Asterisk 22 with VICIdial's own configuration,
and VICIdial's programs run from ../shared/vicidial (bind-mounted read-only, never copied).

What differs from the Asterisk tier's instance:
- `/etc/asterisk` in the root is the instance's etc/ (a symlink): VICIdial's keepalive writes
  its files there, a fixed path in it; `/etc/astguiclient.conf` (also fixed in every VICIdial
  program) points them at the test's MariaDB over 127.0.0.1;
- extensions.conf is VICIdial's stock extensions.conf.sample-18 as it is; iax.conf is VICIdial's
  sample with the one change the loop needs: it listens on 127.0.0.1:40569, where the
  keepalive's `TRUNKloop` and `ASTloop` registration go (the sample binds 4569 only);
- manager.conf is VICIdial's (docs/conf_examples/manager.conf.sample-13) on loopback, plus the
  ConfBridge cleaner's user and the test's own;
- voicemail.conf is there, empty (the keepalive copies its header into the one it rebuilds);
- the dialplan comes from VICIdial's rebuild: the tier writes no extensions of its own but
  the server's Custom Dialplan Entry (dialplan.py), which the keepalive turns into
  extensions-vicidial.conf with everything else.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
from typing import Iterator

from press3way_testing.asterisk import configs
from press3way_testing.asterisk.instance import Instance
from press3way_testing.asterisk.root import SYSTEM_PATH, VENV_PYTHON, chroot_command
from press3way_testing.site import Site
from press3way_testing.vicidial_server import vicidial_files

RECORDER_USER = "press3way-test"
# the ConfBridge cleaner logs in as `confcron` (AST_conf_update_screen.pl 223), a user the
# sample lacks: it lists rooms and kicks lone legs
CONFCRON = ("[confcron]\nsecret = 1234\nread = command,call,reporting\n"
            "write = command,call,reporting\n")
EXTRA_MODULES = ("chan_iax2", "func_hangupcause")
LOOP_PORT = 40569
ASTGUICLIENT = "/etc/astguiclient.conf"           # inside the root, fixed in VICIdial's code
FASTAGI_LOG_CHILDREN = 2                          # FastAGI_log.pl's pre-forked children
PROGRAM_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


class ProgramFailed(RuntimeError):
    """A VICIdial program (or our install) exited with an error."""


@contextlib.contextmanager
def mounted(target: pathlib.Path, *mount_args: str) -> Iterator[None]:
    """`mount <mount_args> target` for the block (a crashed run's mount replaced first)."""
    target.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", str(target)]).returncode == 0:
        subprocess.run(["umount", "-l", str(target)], check=True)
    subprocess.run(["mount", *mount_args, str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@contextlib.contextmanager
def vicidial_mounted(root: pathlib.Path) -> Iterator[None]:
    """VICIdial's files visible, read-only, at vicidial_files.MOUNT inside the root; and /proc,
    where VICIdial's daemons look with `ps` (AST_manager_send.pl stops when it sees no
    AST_manager_listen.pl running)."""
    target = root / vicidial_files.MOUNT.lstrip("/")
    with mounted(target, "--bind", str(vicidial_files.host_dir())), \
            mounted(root / "proc", "-t", "proc", "proc"):
        subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True)
        yield


class VicidialInstance(Instance):
    """Asterisk with VICIdial's configuration; VICIdial's programs beside it in the root."""

    recorder_user = RECORDER_USER

    def __init__(self, root: pathlib.Path):
        super().__init__(root, block="")
        self.daemons: dict[str, subprocess.Popen] = {}

    @property
    def conf_path(self) -> str:
        """Our scripts read the same file as VICIdial's programs, as on a VICIdial server."""
        return ASTGUICLIENT

    @property
    def vicidial_logs(self) -> str:
        return f"{self.base}/vicidial-logs"

    # --- setting up -------------------------------------------------------------------------
    def config_files(self) -> dict[str, str]:
        files = configs.static_files(self.ami_port, self.base, self.module_dir())
        files["modules.conf"] = configs.modules_conf(EXTRA_MODULES)
        files["manager.conf"] = self.manager_conf()
        files["extensions.conf"] = vicidial_files.host("extensions.conf.sample-18").read_text()
        sample = vicidial_files.host("docs/conf_examples/iax.conf.sample").read_text()
        files["iax.conf"] = sample.replace("bindport=4569",
                                           f"bindport={LOOP_PORT}\nbindaddr=127.0.0.1", 1)
        # the keepalive reads the header of the server's voicemail.conf and dies without one
        files["voicemail.conf"] = "[general]\n\n[default]\n"
        return files

    def manager_conf(self) -> str:
        """VICIdial's manager.conf.sample-13 (its users, their rights and event filters: its
        listener dies on events the filters keep from it) on this instance's port and on
        loopback; then the cleaner's user and the test's own."""
        sample = vicidial_files.host("docs/conf_examples/manager.conf.sample-13").read_text()
        general = sample.replace("port = 5038", f"port = {self.ami_port}", 1).replace(
            "bindaddr = 0.0.0.0", "bindaddr = 127.0.0.1", 1)
        if general == sample:
            raise ValueError("manager.conf.sample-13 has no `port = 5038` line to replace")
        return f"{general}\n{CONFCRON}\n{configs.manager_user(RECORDER_USER)}"

    def prepare(self) -> None:
        super().prepare()
        (self.host_dir / "vicidial-logs").mkdir(exist_ok=True)
        etc = self.host("/etc/asterisk")
        if etc.is_symlink():
            etc.unlink()
        elif etc.exists():                   # Debian's own configs: kept aside, never used
            os.rename(etc, self.host("/etc/asterisk.debian"))
        etc.symlink_to(f"{self.base}/etc")

    def write_astguiclient(self, site: Site) -> None:
        """The server's /etc/astguiclient.conf: the database, VICIdial's paths, no keepalives
        (X: the keepalive starts none of VICIdial's screens; the tier runs what it needs)."""
        path = self.host(ASTGUICLIENT)
        site.write_conf(str(path), self.agi_logs)
        extra = [f"PATHhome => {vicidial_files.inside('bin')}",
                 f"PATHweb => {vicidial_files.inside('www')}", f"PATHagi => {self.base}/agi-bin",
                 f"PATHsounds => {self.base}/lib/sounds", "PATHmonitor => /tmp",
                 "VARactive_keepalives => X",
                 f"VARfastagi_log_min_servers => {FASTAGI_LOG_CHILDREN}",
                 f"VARfastagi_log_max_servers => {FASTAGI_LOG_CHILDREN * 2}",
                 "VARfastagi_log_min_spare_servers => 1",
                 f"VARfastagi_log_max_spare_servers => {FASTAGI_LOG_CHILDREN}"]
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n".join(extra) + "\n")

    def extensions_vicidial(self) -> str:
        """What the keepalive wrote (empty before its first rebuild)."""
        path = self.host_dir / "etc" / "extensions-vicidial.conf"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- running programs in the root -------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8",
                "PYTHONPATH": f"{self.base}/code", "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, *args: str, cwd: str = "/", timeout: float = PROGRAM_TIMEOUT_S,
            stdin: str = "") -> str:
        """A program run to its end inside the root; its stdout (ProgramFailed: its error)."""
        done = subprocess.run(chroot_command(self.root, "env", "-C", cwd, *args),
                              input=stdin, capture_output=True, text=True, env=self._env(),
                              timeout=timeout)
        if done.returncode:
            raise ProgramFailed(f"{' '.join(args[:2])} exited {done.returncode}: "
                                + " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:]))
        return done.stdout

    def perl(self, script: str, *args: str, timeout: float = PROGRAM_TIMEOUT_S) -> str:
        """One of VICIdial's bin/ programs, run to its end."""
        return self.run("/usr/bin/perl", vicidial_files.inside(f"bin/{script}"), *args,
                        timeout=timeout)

    def press3way(self, *args: str) -> str:
        """`press3way ...` as an admin runs it on the server (the root's venv, today's code)."""
        return self.run(VENV_PYTHON, "-c", "from press3way.cli import main; main()", *args)

    def start_daemon(self, script: str, *args: str) -> subprocess.Popen:
        """One of VICIdial's long-running programs, left running until `stop`."""
        log = open(self.host_dir / "vicidial-logs" / f"{script}.out", "wb")
        process = subprocess.Popen(
            chroot_command(self.root, "/usr/bin/perl", vicidial_files.inside(f"bin/{script}"),
                           *args),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self._env(),
            start_new_session=True)
        log.close()
        self.daemons[script] = process
        return process

    def daemon_output(self, script: str) -> str:
        """What one of VICIdial's programs printed so far (`keep_output` for one run to its end)."""
        path = self.host_dir / "vicidial-logs" / f"{script}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def keep_output(self, script: str, text: str) -> None:
        with open(self.host_dir / "vicidial-logs" / f"{script}.out", "a", encoding="utf-8") as f:
            f.write(text)

    def stop(self) -> None:
        for process in self.daemons.values():       # each in a session (its children) of its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        self.daemons.clear()
        super().stop()

    def remove(self) -> None:
        etc = self.host("/etc/asterisk")
        if etc.is_symlink() and os.readlink(etc) == f"{self.base}/etc":
            etc.unlink()
        shutil.rmtree(self.host_dir, ignore_errors=True)
