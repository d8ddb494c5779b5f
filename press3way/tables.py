"""The feature's four tables: their names, and the one guard that lets a name into SQL text."""

from __future__ import annotations

LIVE = "vicidial_3way_press_live"
LOG = "vicidial_3way_press_log"
ARCHIVE = "vicidial_3way_press_log_archive"
MULTI = "vicidial_3way_press_multi"
FEATURE_TABLES = (LIVE, LOG, ARCHIVE, MULTI)


def feature_table(table: str) -> str:
    """Identifiers are never taken from input: only our four tables pass."""
    if table not in FEATURE_TABLES:
        raise ValueError(f"not a press3way table: {table!r}")
    return table
