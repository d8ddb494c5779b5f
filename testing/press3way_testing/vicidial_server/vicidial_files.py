"""Where VICIdial's own files are: on the host (../shared/vicidial) and inside the root.

They are never copied: the root sees the host directory through a read-only bind mount at
`MOUNT`, so the programs run are VICIdial's files as they are.
"""

from __future__ import annotations

import os
import pathlib

SHARED_ENV = "PRESS3WAY_SHARED"          # the shared files (as the other tiers read it)
MOUNT = "/opt/vicidial"                  # inside the root
NEEDED = ("MySQL_AST_CREATE_tables.sql", "first_server_install.sql", "extensions.conf.sample-18",
          "bin/ADMIN_keepalive_ALL.pl", "bin/FastAGI_log.pl", "bin/AST_manager_send.pl",
          "bin/AST_send_action_child.pl", "bin/AST_manager_listen.pl",
          "bin/AST_conf_update_screen.pl", "www/agc/manager_send.php", "www/agc/api.php",
          "docs/conf_examples/iax.conf.sample", "docs/conf_examples/manager.conf.sample-13")


def host_dir() -> pathlib.Path:
    """VICIdial's files on the host: $PRESS3WAY_SHARED/vicidial, else shared/vicidial beside the
    repository or beside a directory above it (a git worktree's checkout lies deeper)."""
    if os.environ.get(SHARED_ENV):
        return pathlib.Path(os.environ[SHARED_ENV]).resolve() / "vicidial"
    repo = pathlib.Path(__file__).resolve().parents[3]
    for above in repo.parents:
        if (above / "shared" / "vicidial").is_dir():
            return above / "shared" / "vicidial"
    return repo.parent / "shared" / "vicidial"


def host(relative: str) -> pathlib.Path:
    return host_dir() / relative


def inside(relative: str) -> str:
    """The path of one of VICIdial's files as the root's programs see it."""
    return f"{MOUNT}/{relative}"


def why_missing() -> str:
    """'' when every file the tier runs is there; else the one-line reason."""
    missing = [name for name in NEEDED if not host(name).exists()]
    return f"needs VICIdial's {missing[0]} in {host_dir()}" if missing else ""
