"""The cached Debian roots holding Asterisk 22 and a venv with the scripts' runtime deps.

Debian ships Asterisk only in unstable; mmdebstrap builds a root of it in a few minutes. It is
built once into a temporary directory beside its final place and renamed there when complete,
so a half-built root is never used. Later runs need no network.

A `RootKind` names one root: where it lives and which Debian packages it holds. `ASTERISK` is
the real-Asterisk tier's; the VICIdial-server tier builds a second kind with VICIdial's Perl and
PHP dependencies added, so neither tier's root changes under the other.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import tempfile
from typing import Callable, NamedTuple

DEFAULT_ROOT = "/var/cache/press3way/asterisk-root"
ROOT_ENV = "PRESS3WAY_ASTERISK_ROOT"
VENV = "/opt/press3way-venv"                 # inside the root
VENV_PYTHON = f"{VENV}/bin/python3"
READY_MARK = ".press3way-root-ready"
PACKAGES = ("asterisk", "python3", "python3-venv")
PYTHON_DEPS = ("PyMySQL>=1.1", "pyst2>=0.5.1", "click>=8.0")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class RootKind(NamedTuple):
    """One cached root: its place (overridable by an environment variable) and its packages."""
    default_path: str
    env: str
    packages: tuple[str, ...]
    label: str                               # "the Asterisk root", in messages


ASTERISK = RootKind(DEFAULT_ROOT, ROOT_ENV, PACKAGES, "the Asterisk root")


class RootUnavailable(RuntimeError):
    """The tier cannot run here; the message is the one-line reason."""


def root_path(kind: RootKind = ASTERISK) -> pathlib.Path:
    return pathlib.Path(os.environ.get(kind.env) or kind.default_path)


def is_ready(root: pathlib.Path) -> bool:
    return (root / READY_MARK).is_file()


def host_mirror(sources_dir: str = "/etc/apt") -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line sources), or Debian's CDN."""
    paths = [os.path.join(sources_dir, "sources.list")]
    parts = os.path.join(sources_dir, "sources.list.d")
    if os.path.isdir(parts):
        paths += sorted(os.path.join(parts, n) for n in os.listdir(parts)
                        if n.endswith((".list", ".sources")))
    for path in paths:
        try:
            text = open(path, encoding="utf-8").read()
        except OSError:
            continue
        for url in re.findall(r"^\s*(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if re.search(r"/debian/?$", url):
                return url.rstrip("/")
    return FALLBACK_MIRROR


def why_not_buildable(kind: RootKind = ASTERISK) -> str:
    """'' when this machine can build (or already has) the root; else the one-line reason."""
    if is_ready(root_path(kind)):
        return ""
    if os.geteuid() != 0:
        return "needs root (mmdebstrap and chroot)"
    if not shutil.which("mmdebstrap"):
        return "needs mmdebstrap (apt-get install -y mmdebstrap)"
    return ""


def ensure_root(log: Callable[[str], None] = print, kind: RootKind = ASTERISK) -> pathlib.Path:
    """The ready root, built first if needed; RootUnavailable says why it cannot be had."""
    root = root_path(kind)
    if is_ready(root):
        return root
    reason = why_not_buildable(kind)
    if reason:
        raise RootUnavailable(reason)
    root.parent.mkdir(parents=True, exist_ok=True)
    building = pathlib.Path(tempfile.mkdtemp(prefix=root.name + ".building-", dir=root.parent))
    try:
        log(f"building {kind.label} in {building} (once; a few minutes)")
        _debootstrap(building, kind.packages)
        _make_venv(building)
        (building / READY_MARK).write_text(_asterisk_version(building) + "\n")
        if is_ready(root):                   # another run finished first: use that one
            shutil.rmtree(building)
            return root
        if root.exists():                    # a stale, unfinished root: never used, replaced
            shutil.rmtree(root)
        os.rename(building, root)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(building, ignore_errors=True)
        detail = exc.stderr.strip().splitlines()[-1:] if isinstance(
            exc, subprocess.CalledProcessError) and exc.stderr else [str(exc)]
        raise RootUnavailable(f"building {kind.label} failed: {' '.join(detail)}") from None
    return root


def chroot_command(root: pathlib.Path, *args: str) -> list[str]:
    """A command run inside the root (chroot lives in sbin, which may not be on PATH)."""
    return [shutil.which("chroot", path=SYSTEM_PATH) or "chroot", str(root), *args]


def _run(args: list[str], **kw) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def _debootstrap(target: pathlib.Path, packages: tuple[str, ...]) -> None:
    _run(["mmdebstrap", "--variant=apt", "--mode=root",
          "--aptopt=Acquire::Check-Valid-Until \"false\"",
          "--aptopt=APT::Install-Recommends \"false\"",
          "--include=" + ",".join(packages), "unstable", str(target), host_mirror()])


def _make_venv(root: pathlib.Path) -> None:
    """A venv made with the root's python; pip there needs the host's CA bundle and DNS."""
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    bundle = root / "etc/ssl/certs/press3way-host-ca.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOST_CA_BUNDLE, bundle)
    env = {"PATH": SYSTEM_PATH, "HOME": "/root", "PIP_CERT": str(bundle)[len(str(root)):],
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_DEFAULT_TIMEOUT": "180"}
    _run(chroot_command(root, "python3", "-m", "venv", VENV), env=env)
    _run(chroot_command(root, f"{VENV}/bin/pip", "install", "-q", *PYTHON_DEPS), env=env)


def _asterisk_version(root: pathlib.Path) -> str:
    out = subprocess.run(chroot_command(root, "asterisk", "-V"), capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def main() -> int:
    """`python -m press3way_testing.asterisk.root`: build the root if it can be; one line."""
    try:
        root = ensure_root()
    except RootUnavailable as exc:
        print(f"real-Asterisk tier skipped: {exc}")
        return 0
    print(f"real-Asterisk root ready: {root} ({(root / READY_MARK).read_text().strip()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
