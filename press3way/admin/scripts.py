"""The two AGI scripts in agi-bin: what installing or removing them takes, staged as file
changes (see `files`), so nothing moves until every change is ready."""

from __future__ import annotations

import os
import sys
import sysconfig
from typing import Callable

from .files import Changes, read_bytes

SCRIPTS = ("agi-3way_press_agent.agi", "agi-3way_press_outside.agi")
BACKUP = ".press3way-backup"     # a script of the same name that was not ours is kept as this
Echo = Callable[[str], None]


class ScriptError(Exception):
    """The scripts cannot be installed as asked; the message says what to do."""


def script_copy(name: str) -> bytes:
    """The script as shipped, run by this interpreter (which has the package) with `-S`: no
    scan of site-packages at every call's start; the script is told where the package and
    its libraries are instead."""
    package = os.path.dirname(os.path.dirname(__file__))
    paths = list(dict.fromkeys([os.path.dirname(package), sysconfig.get_path("purelib"),
                                sysconfig.get_path("platlib")]))
    return script_text(name, sys.executable, paths).encode()


def script_text(name: str, python: str, paths: list[str]) -> str:
    """Script `name` run by `python -S`, finding its modules in `paths` first."""
    package = os.path.dirname(os.path.dirname(__file__))
    with open(os.path.join(package, "data", name), encoding="utf-8") as f:
        docstring, body = f.read().split("\n", 2)[1:]
    body = body.replace("import sys\n", "import sys\n\nsys.path[:0] = "
                        f"{paths!r}  # written by press3way install\n", 1)
    return f"#!{python} -S\n{docstring}\n{body}"


def compile_package(echo: Echo) -> None:
    """Write the package's bytecode now: a call's script, run as Asterisk's user, may not be
    allowed to write it, and would then compile every module at every call's start."""
    import compileall  # noqa: PLC0415 - install only
    package = os.path.dirname(os.path.dirname(__file__))
    if compileall.compile_dir(package, quiet=2):
        echo(f"  bytecode of {package}: compiled")
    else:
        echo(f"  WARN: could not write the bytecode of {package}: every call will compile it "
             "(run install as the user who owns the package)")


def installed_script(name: str) -> str:
    """The script pip put in this environment's scripts directory (its #! already right)."""
    dirs = [os.path.dirname(sys.executable), sysconfig.get_path("scripts"),
            sysconfig.get_path("scripts", f"{os.name}_user")]
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    raise ScriptError(f"{name} is not in {' or '.join(dict.fromkeys(dirs))}: "
                      "reinstall the package with pip, or install copies (without --link)")


def is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return b"from press3way" in f.read(4096)
    except OSError:
        return False


def bytes_needed(link: bool) -> int:
    """Room the staged copies take in agi-bin."""
    return 0 if link else sum(len(script_copy(n)) for n in SCRIPTS)


def stage_install(agi_dir: str, link: bool, changes: Changes, would: str, echo: Echo) -> None:
    for name in SCRIPTS:
        target = os.path.join(agi_dir, name)
        if link:
            source = installed_script(name)
            current = os.path.islink(target) and os.readlink(target) == source
        else:
            text = script_copy(name)
            current = (not os.path.islink(target) and os.access(target, os.X_OK)
                       and read_bytes(target) == text)
        if current:
            echo(f"  {name}: up to date")
            continue
        if os.path.lexists(target) and not is_ours(target):
            if os.path.lexists(target + BACKUP):
                raise ScriptError(f"{target} is not press3way's and {target}{BACKUP} already "
                                  "holds an earlier one: move one of them away, then install "
                                  "again")
            echo(f"  {name}: {would}keep the script already there (not ours) as {name}{BACKUP}")
            changes.keep_as(target, target + BACKUP)
        echo(f"  {name}: {would}" + (f"link to {source}" if link
                                      else f"copy, executable, run by {sys.executable}"))
        if link:
            changes.symlink(target, source)
        else:
            changes.write(target, text, 0o755)


def stage_remove(agi_dir: str, changes: Changes, would: str, echo: Echo) -> None:
    for name in SCRIPTS:
        target = os.path.join(agi_dir, name)
        if not os.path.lexists(target):
            echo(f"  {name}: not there")
        elif not is_ours(target):
            echo(f"  {name}: not press3way's; left alone")
        elif os.path.lexists(target + BACKUP):
            echo(f"  {name}: {would}remove, {would}put back the script that was there before")
            changes.move(target + BACKUP, target)
        else:
            echo(f"  {name}: {would}remove")
            changes.remove(target)
