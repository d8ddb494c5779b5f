"""The product ships alone: its wheel holds no test or harness module, and the `press3way`
command and both legs run without loading the harness (`press3way_testing`), which comes only
through its own distribution's `press3way.commands` entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = "press3way_testing"
# Names that belong to tests or the harness, wherever they would sit in the wheel.
TEST_PARTS = {"tests", "testing", HARNESS, "standins", "faults", "conftest.py"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The product's wheel, built as pip builds it for an install."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
                    ROOT], check=True, capture_output=True, timeout=300)
    [built] = out.glob("press3way-*.whl")
    with zipfile.ZipFile(built) as zipped:
        yield zipped


def is_test_file(name: str) -> bool:
    parts = name.split("/")
    return bool(TEST_PARTS & set(parts)) or parts[-1].startswith("test_")


def test_the_wheel_holds_the_product_and_nothing_of_the_tests(wheel):
    names = wheel.namelist()
    assert "press3way/cli.py" in names and "press3way/legs/agent.py" in names
    assert "press3way/data/extensions_custom.conf" in names
    assert [n for n in names if is_test_file(n)] == []
    assert {n.split("/")[0] for n in names if not n.startswith("press3way/")} == {
        n.split("/")[0] for n in names if ".dist-info/" in n or ".data/" in n}


def test_a_test_file_would_be_caught():
    assert is_test_file("press3way/testing/sim.py")
    assert is_test_file("press3way_testing/standins/fakeagi.py")
    assert is_test_file("press3way/test_startup.py")
    assert not is_test_file("press3way/legs/outside.py")


def harness_modules_after(code: str) -> list[str]:
    """The harness's modules a fresh `python -S` has loaded after `code`, with the harness
    importable (so an import of it would succeed, not fail)."""
    paths = [ROOT, os.path.join(ROOT, "testing")] + [p for p in sys.path
                                                       if p.endswith("-packages")]
    probe = (f"import sys; sys.path[:0] = {paths!r}\n{code}\n"
             f"print(' '.join(n for n in sys.modules if n.split('.')[0] == {HARNESS!r}))")
    env = dict(os.environ, PRESS3WAY_CONF=os.path.join(ROOT, "no-such-astguiclient.conf"))
    run = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                         timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@pytest.mark.parametrize("module", ["press3way.cli", "press3way.legs.agent",
                                    "press3way.legs.outside", "press3way.fastagi.server"])
def test_importing_the_command_or_a_leg_loads_nothing_of_the_harness(module):
    assert harness_modules_after(f"import {module}") == []


def test_an_admin_command_failing_loads_nothing_of_the_harness():
    """The error path of every admin command (a config that does not load, here) included."""
    code = ("from press3way.cli import main\n"
            "try:\n    main(['cleanup'])\nexcept SystemExit as end:\n    assert end.code == 1\n")
    assert harness_modules_after(code) == []


def test_the_probe_sees_the_harness_when_it_is_loaded():
    assert HARNESS in harness_modules_after(f"import {HARNESS}.commands")
