"""Output for commands that change things: a closed stdout (`press3way install | head -2`)
must not stop them half-way, so the rest of the output is dropped and the work goes on."""

from __future__ import annotations

import os
import sys

import click


class PipeSafeEcho:
    """click.echo that, once stdout is gone, drops lines instead of raising."""

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, line: str) -> None:
        if self.closed:
            return
        try:
            click.echo(line)
        except BrokenPipeError:
            self.closed = True
            # Python flushes stdout again at exit; point it at /dev/null so that is quiet too.
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            finally:
                os.close(devnull)
