"""A per-call script's start: what it imports, its first command, and the pieces that make it
short (`lean_dataclass` for dataclass, stand-ins for modules loaded only when used).

Process mode only: an interpreter starting per call exists only there (FastAGI starts once)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from press3way.lean_dataclass import lean_dataclass
from press3way.telephony.agi import Channel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a call never needs and each costs a per-call script milliseconds of CPU at its start.
HEAVY = ("dataclasses", "inspect", "typing", "traceback", "ssl", "pprint", "threading")


def loaded_after(code: str) -> set[str]:
    """The modules a fresh `python -S` (as installed scripts run) has really loaded after
    `code`: a stand-in that was never used does not count."""
    paths = [ROOT] + [p for p in sys.path if p.endswith("-packages")]
    probe = (f"import sys; sys.path[:0] = {paths!r}\n{code}\n"
             "print(' '.join(n for n, m in sys.modules.items() if m is not None "
             "and '__getattr__' not in vars(m)))")
    run = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True)
    return set(run.stdout.split())


@pytest.mark.parametrize("leg", ["outside", "agent"])
def test_a_leg_starts_without_the_heavy_standard_modules(leg):
    loaded = loaded_after("from press3way import startup\n"
                          "for name in startup.LOADED_WHEN_USED: startup.load_when_used(name)\n"
                          f"import press3way.legs.{leg}, press3way.telephony.agiwire")
    assert "pymysql" in loaded and "asterisk.agi" in loaded     # the probe sees real imports
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_module_loaded_when_used_becomes_the_real_one():
    loaded = loaded_after("from press3way import startup\n"
                          "startup.load_when_used('traceback')\n"
                          "import traceback\n"
                          "stand_in = traceback\n"
                          "assert 'format_exc' not in vars(stand_in)\n"
                          "text = traceback.format_exc()\n"
                          "assert sys.modules['traceback'] is not stand_in\n"
                          "assert stand_in.format_exception is sys.modules['traceback']"
                          ".format_exception\n"
                          "from traceback import format_exc")
    assert "traceback" in loaded and "linecache" in loaded


def test_vardb_ssl_still_gets_tls(mariadb):
    """The ssl stand-in loads the real module as soon as PyMySQL sets up TLS (VARDB_ssl)."""
    server = {k: mariadb[k] for k in ("host", "port", "user", "password")}
    loaded = loaded_after("from press3way import startup\n"
                          "for name in startup.LOADED_WHEN_USED: startup.load_when_used(name)\n"
                          "import pymysql\n"
                          f"pymysql.connect(**{server!r}, ssl_disabled=False).close()")
    assert "ssl" in loaded and "_ssl" in loaded


def test_the_first_command_goes_out_before_anything_is_asked_of_the_channel():
    out = io.StringIO()
    channel = Channel(io.StringIO("agi_channel: Local/9@x-1;1\nagi_arg_1: answered\n\n"
                                  "200 result=1 (T123)\n200 result=0\n200 result=0\n"), out,
                      ask=("call_3way_id",))
    assert out.getvalue() == "GET VARIABLE call_3way_id\n"
    assert channel.env["agi_arg_1"] == "answered"
    channel.goto_invalid()          # the asked reply is taken first, not mistaken for this one
    assert channel.get_variable("call_3way_id") == "T123"
    assert out.getvalue() == "GET VARIABLE call_3way_id\nSET EXTENSION i\nSET PRIORITY 1\n"


def test_an_asked_variable_that_is_not_set_is_empty():
    out = io.StringIO()
    channel = Channel(io.StringIO("agi_channel: x\n\n200 result=0\n"), out,
                      ask=("call_3way_id",))
    assert channel.get_variable("call_3way_id") == ""


@lean_dataclass
class Plain:
    a: int
    b: str = "b"


@lean_dataclass(frozen=True)
class Frozen:
    a: int


def test_a_lean_dataclass_builds_and_compares_as_a_dataclass_does():
    assert Plain(1) == Plain(a=1, b="b") != Plain(1, "c")
    assert repr(Plain(1)) == "Plain(a=1, b='b')"
    for wrong in ((), (1, "b", 3)):
        with pytest.raises(TypeError):
            Plain(*wrong)
    with pytest.raises(TypeError):
        Plain(1, a=2)
    with pytest.raises(TypeError):
        Plain(1, c=2)
    plain = Plain(1)
    plain.a = 2
    assert plain.a == 2
    with pytest.raises(TypeError):
        hash(plain)


def test_a_frozen_lean_dataclass_cannot_change_and_hashes_by_value():
    frozen = Frozen(1)
    with pytest.raises(AttributeError):
        frozen.a = 2
    assert hash(frozen) == hash(Frozen(1)) and {frozen, Frozen(1)} == {frozen}
