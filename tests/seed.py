"""The reference's dialplan block, as VICIdial's document (the seed) gives it; tests that need
it are skipped where the seed is not beside the repository."""

from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The shared files beside the repository (PRESS3WAY_SHARED names them for a checkout elsewhere,
# e.g. a git worktree).
SHARED = os.environ.get("PRESS3WAY_SHARED") or os.path.join(ROOT, "..", "shared")
SEED = os.path.join(SHARED, "seed", "000_cda9d9423e9c5705.txt")


def reference_block() -> str:
    if not os.path.exists(SEED):
        pytest.skip(f"the seed document {SEED} is not here")
    with open(SEED, encoding="utf-8") as f:
        text = f.read()
    start = text.index("; VICIdial agent initation")
    return text[start:text.index("-----", start)].rstrip() + "\n"
