"""One Asterisk per test session, in a directory of its own inside the cached root.

At start the instance gets today's code (the package and bin/*.agi, their `#!` pointing at the
root venv's python), the sounds, its configs and our dialplan block; Asterisk runs chrooted as
root (no -U: it would drop the capability to read its config files), with PYTHONPATH and
PRESS3WAY_CONF in its environment, which its AGI scripts inherit.
"""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import press3way
from press3way.admin import scripts
from press3way_testing.asterisk import configs, sounds
from press3way_testing.asterisk.instance_dialplan import BLOCK_FILE, extensions_conf
from press3way_testing.asterisk.recorder import Recorder
from press3way_testing.asterisk.root import SYSTEM_PATH, VENV, VENV_PYTHON, chroot_command

INSTANCES_DIR = "press3way-instances"          # inside the root
AGI_SCRIPTS = ("agi-3way_press_agent.agi", "agi-3way_press_outside.agi")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
DOCUMENTATION_DIR = "/usr/share/asterisk/documentation"     # inside the root


class AsteriskFailed(RuntimeError):
    """Asterisk did not start, or died."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def package_source() -> pathlib.Path:
    return pathlib.Path(press3way.__file__).resolve().parent


def venv_site_packages(root: pathlib.Path) -> str:
    """The root venv's site-packages, as Asterisk's scripts see it."""
    found = next((root / VENV.lstrip("/") / "lib").glob("python3*/site-packages"))
    return "/" + str(found.relative_to(root))


class Instance:
    recorder_user = configs.AMI_USER             # the test's own manager login (reads all)

    def __init__(self, root: pathlib.Path, block: str):
        self.root = root
        (root / INSTANCES_DIR).mkdir(exist_ok=True)
        self.host_dir = pathlib.Path(tempfile.mkdtemp(prefix="ast-", dir=root / INSTANCES_DIR))
        self.base = "/" + str(self.host_dir.relative_to(root))     # as Asterisk sees it
        self.ami_port = free_port()
        self.block = block
        self.process: subprocess.Popen | None = None
        self.recorder: Recorder | None = None

    # --- paths ------------------------------------------------------------------------------
    def host(self, inside: str) -> pathlib.Path:
        """The host path of a path inside the root."""
        return self.root / inside.lstrip("/")

    @property
    def conf_path(self) -> str:
        """PRESS3WAY_CONF as the scripts see it (the test writes it through `host`)."""
        return f"{self.base}/etc/astguiclient.conf"

    @property
    def agi_logs(self) -> str:
        return f"{self.base}/agilogs"

    @property
    def full_log(self) -> pathlib.Path:
        return self.host_dir / "log" / "full"

    def log_text(self, since: int = 0) -> str:
        """The full log from byte offset `since` (what a failing test prints)."""
        try:
            with open(self.full_log, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        return self.full_log.stat().st_size if self.full_log.exists() else 0

    # --- setting up -------------------------------------------------------------------------
    def prepare(self) -> None:
        for sub in ("etc", "lib", "agi-bin", "spool", "run", "log", "code", "agilogs"):
            (self.host_dir / sub).mkdir(exist_ok=True)
        for name, text in self.config_files().items():
            (self.host_dir / "etc" / name).write_text(text)
        # Asterisk reads its XML documentation from astdatadir (stasis will not start without it)
        (self.host_dir / "lib" / "documentation").symlink_to(DOCUMENTATION_DIR)
        self._copy_code()
        sounds.install(self.host_dir / "lib" / "sounds" / "en")

    def module_dir(self) -> str:
        """Asterisk's modules, as Asterisk sees them."""
        return "/" + str(next(self.root.glob("usr/lib/*/asterisk/modules")).relative_to(self.root))

    def config_files(self) -> dict[str, str]:
        """Every file of etc/: name -> text (the test's [default] and our block included)."""
        files = configs.static_files(self.ami_port, self.base, self.module_dir())
        files["extensions.conf"] = extensions_conf()
        files[BLOCK_FILE] = self.block
        return files

    def _copy_code(self) -> None:
        """The package and the two scripts, as `press3way install` puts them on a server:
        run by the venv's python with `-S`, their paths written in, bytecode compiled."""
        shutil.copytree(package_source(), self.host_dir / "code" / "press3way",
                        ignore=shutil.ignore_patterns("__pycache__", "testing"), dirs_exist_ok=True)
        paths = [f"{self.base}/code", venv_site_packages(self.root)]
        for name in AGI_SCRIPTS:
            script = self.host_dir / "agi-bin" / name
            script.write_text(scripts.script_text(name, VENV_PYTHON, paths))
            script.chmod(0o755)
        subprocess.run(chroot_command(self.root, VENV_PYTHON, "-m", "compileall", "-q",
                                      f"{self.base}/code"), check=True, timeout=120)

    # --- running ----------------------------------------------------------------------------
    def start(self) -> Recorder:
        """Start Asterisk and log the recorder in; the recorder."""
        env = {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8",
               "PYTHONPATH": f"{self.base}/code", "PRESS3WAY_CONF": self.conf_path,
               "PYTHONDONTWRITEBYTECODE": "1"}
        console = open(self.host_dir / "log" / "console", "wb")
        self.process = subprocess.Popen(
            chroot_command(self.root, "/usr/sbin/asterisk", "-f", "-n", "-C",
                           f"{self.base}/etc/asterisk.conf"),
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        console.close()
        self.recorder = self._connect_recorder()
        self.recorder.wait_event("FullyBooted", START_TIMEOUT_S)
        return self.recorder

    def _connect_recorder(self) -> Recorder:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise AsteriskFailed(f"Asterisk exited ({self.process.returncode}): "
                                     + self._last_words())
            try:
                return Recorder("127.0.0.1", self.ami_port).start(self.recorder_user,
                                                                 configs.AMI_SECRET)
            except OSError:
                pass
            except Exception as exc:                 # noqa: BLE001 - AMIError while booting
                if "unreachable" not in str(exc):
                    raise
            if time.monotonic() > deadline:
                raise AsteriskFailed(f"no AMI on port {self.ami_port} after {START_TIMEOUT_S} s: "
                                     + self._last_words())
            time.sleep(0.05)                          # the port is not open yet: try again

    def _last_words(self) -> str:
        console = (self.host_dir / "log" / "console").read_text(errors="replace")
        lines = (console + self.log_text()).strip().splitlines()
        return " | ".join(lines[-5:])

    def load_block(self, block: str) -> None:
        """Replace our dialplan block (other flags, say) and reload the dialplan."""
        if block == self.block:
            return
        (self.host_dir / "etc" / BLOCK_FILE).write_text(block)
        self.block = block
        reply = self.recorder.action("Command", Command="dialplan reload")
        if reply.get("Response") not in ("Success", "Follows"):
            raise AsteriskFailed(f"dialplan reload refused: {reply.get('Message')}")

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
            self.recorder = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self.process = None

    def remove(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)
