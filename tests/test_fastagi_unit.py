"""The shipped systemd unit of the FastAGI server: confined as a careful admin expects, by
systemd's own measure (`systemd-analyze security`), and never in a way that breaks the peer
check (which asks the kernel over netlink)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

import press3way

UNIT = os.path.join(os.path.dirname(press3way.__file__), "data", "press3way-fastagi.service")
MAX_EXPOSURE = 2.0


def settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in open(UNIT, encoding="utf-8").read().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here")
def test_systemd_rates_the_shipped_unit_at_most_2_0_exposed():
    run = subprocess.run(["systemd-analyze", "security", "--offline=yes", UNIT],
                         capture_output=True, text=True, timeout=60)
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", run.stdout)
    assert level, run.stdout + run.stderr
    assert float(level.group(1)) <= MAX_EXPOSURE, run.stdout


def test_the_unit_runs_as_asterisks_user_and_may_ask_the_kernel_who_a_peer_is():
    unit = settings()
    assert unit["User"] == ["asterisk"] and unit["Group"] == ["asterisk"]
    assert "AF_NETLINK" in unit["RestrictAddressFamilies"][0].split()   # the peer check
    assert "PrivateUsers" not in unit                # it would show other uids as nobody's
    assert unit["ReadWritePaths"] == ["-/var/log/astguiclient"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert "4577" not in unit["ExecStart"][0]
