"""One checked item, as `check` and `install` print it: OK, or what is wrong and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Result:
    item: str
    ok: bool | None           # None: not checked, something it needs failed
    detail: str = ""
    warn: bool = False        # in order for now, but it will not stay so (says why)

    def line(self) -> str:
        mark = "WARN" if self.warn else {True: "OK  ", False: "FAIL", None: "SKIP"}[self.ok]
        return f"{mark}  {self.item}" + (f": {self.detail}" if self.detail else "")
