"""How long a sound plays: read from the sound file when one is found, as Asterisk plays it.

VICIdial's `hold_tone.gsm` lasts 0.46 s and `buzz.gsm` 0.22 s: a script that streams them is
blocked that long, which is what the timing of a real call is made of.
"""

from __future__ import annotations

import functools
import os
import wave

GSM_FRAME_BYTES, GSM_FRAME_S = 33, 0.020
# Raw formats: bytes per second of sound.
RAW_BYTES_PER_S = {"ulaw": 8000, "ul": 8000, "alaw": 8000, "al": 8000, "sln": 16000,
                   "slin": 16000, "g729": 1000}
# Where the sounds are looked for: PRESS3WAY_SOUNDS (a path list) first, then Asterisk's
# directory, then VICIdial's files as the project's test machines hold them.
DEFAULT_DIRS = ("/var/lib/asterisk/sounds/en", "/var/lib/asterisk/sounds",
                "/work/shared/vicidial/sounds")
# When no file is found. VICIdial's own files (measured: docs/behaviour.md, "The dialplan");
# the three prompts are Asterisk/VICIdial recordings these machines do not hold, so their
# lengths are estimates of a spoken phrase.
KNOWN_SECONDS = {"hold_tone": 0.46, "buzz": 0.22, "sip-silence": 0.02,
                 "outside-sales": 1.6, "press-1": 0.9, "now": 0.4}
UNKNOWN_SECONDS = 0.5


def sound_dirs() -> tuple[str, ...]:
    extra = tuple(p for p in os.environ.get("PRESS3WAY_SOUNDS", "").split(os.pathsep) if p)
    return extra + DEFAULT_DIRS


@functools.lru_cache(maxsize=256)
def seconds(sound: str, dirs: tuple[str, ...] | None = None) -> float:
    """The length of `sound` (a name without extension, as Playback and STREAM FILE take it)."""
    for directory in dirs if dirs is not None else sound_dirs():
        found = file_seconds(os.path.join(directory, sound))
        if found is not None:
            return found
    return KNOWN_SECONDS.get(os.path.basename(sound), UNKNOWN_SECONDS)


def file_seconds(stem: str) -> float | None:
    """The length of the first `stem.<format>` file Asterisk could play, or None."""
    for ext in ("gsm", "wav", *RAW_BYTES_PER_S):
        path = f"{stem}.{ext}"
        if not os.path.isfile(path):
            continue
        if ext == "gsm":
            return os.path.getsize(path) // GSM_FRAME_BYTES * GSM_FRAME_S
        if ext == "wav":
            with wave.open(path) as w:
                return w.getnframes() / w.getframerate()
        return os.path.getsize(path) / RAW_BYTES_PER_S[ext]
    return None


def files(argument: str) -> list[str]:
    """`outside-sales&press-1&now` -> the files Playback/Background play in turn."""
    return [f for f in (argument.split(",", 1)[0]).split("&") if f]
