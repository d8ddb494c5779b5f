"""The sounds the calls play: VICIdial's own (copied at run time, never into the repo) and our
three prompts, generated as 8 kHz 16-bit raw audio (.sln) of a spoken prompt's length."""

from __future__ import annotations

import math
import os
import pathlib
import shutil
import struct

VICIDIAL_SOUNDS_DIR = "/work/shared/vicidial/sounds"
VICIDIAL_SOUNDS = ("buzz", "hold_tone", "sip-silence")
PROMPT_SECONDS = {"outside-sales": 1.6, "press-1": 0.9, "now": 0.5}
RATE = 8000


def vicidial_sounds_dir() -> str:
    return os.environ.get("PRESS3WAY_VICIDIAL_SOUNDS", VICIDIAL_SOUNDS_DIR)


def missing_vicidial_sounds() -> list[str]:
    directory = vicidial_sounds_dir()
    found = set(os.listdir(directory)) if os.path.isdir(directory) else set()
    return [n for n in VICIDIAL_SOUNDS if f"{n}.gsm" not in found]


def tone(seconds: float, hz: float = 420.0, level: float = 0.1) -> bytes:
    """A soft tone: stands in for a spoken prompt of the same length."""
    samples = int(seconds * RATE)
    return b"".join(struct.pack("<h", int(level * 32767 * math.sin(2 * math.pi * hz * i / RATE)))
                    for i in range(samples))


def install(sounds_dir: pathlib.Path) -> None:
    """Fill `sounds_dir` (Asterisk's sounds/en) with every sound the dialplan and legs play."""
    sounds_dir.mkdir(parents=True, exist_ok=True)
    for name in VICIDIAL_SOUNDS:
        shutil.copyfile(os.path.join(vicidial_sounds_dir(), f"{name}.gsm"),
                        sounds_dir / f"{name}.gsm")
    for name, seconds in PROMPT_SECONDS.items():
        (sounds_dir / f"{name}.sln").write_bytes(tone(seconds))
