"""The docs stay true to the code.

What README.md and docs/*.md name must exist: a repository path in backticks (`press3way/cli.py`,
`bin/*.agi`), a relative link, a `press3way <command> --option` (the product's commands and the
harness's plugins), a `make` target, a pytest marker, and a dotted name (`press3way.store.Store`).
A figure written as a constant's value, `` `press3way.module.NAME` (= value) ``, must be the
code's value. The code's citations (`docs/behaviour.md, "Winner election"`) must find their
page and heading, and the call-state table of docs/behaviour.md must be `callstate.MOVES`.
"""

from __future__ import annotations

import ast
import configparser
import glob
import importlib
import os
import re

import click
import pytest

from press3way.callstate import MOVES
from press3way.cli import PLUGIN_GROUP, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT)
                              for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
CODE_DIRS = ("press3way", os.path.join("testing", "press3way_testing"), "tests", "bench", "bin")
README_MAX_LINES = 150

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_EXAMPLE = re.compile(r"``.+?``")               # a span that shows backticks: an example
_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s#]+)")
_PATHLIKE = re.compile(r"^[\w.*-]+(/[\w.*-]*)*$")
_DOTTED = re.compile(r"^(press3way(?:_testing)?(?:\.\w+)+)")
_VALUE = re.compile(r"\s*\(=\s*([^)\s]+)")
_COMMAND = re.compile(r"(?:^|(?<=[\s/]))press3way(?=\s|$)((?:[ \t]+[^\s|;&#`]+)*)")
_OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")
_MAKE = re.compile(r"^make((?:\s+[\w-]+)+)")
_MARKERS = re.compile(r"""\bpytest\b.*?\s-m\s+(?:"([^"]+)"|'([^']+)'|(\S+))""")
_CITATION = re.compile(r'docs/([\w-]+)\.md((?:(?:[,:]\s*|\s+and\s+|,\s+)"[^"\n]+")*)')
_CITED_BEFORE = re.compile(r'"([^"\n]+)" in `docs/([\w-]+)\.md`')
_QUOTED = re.compile(r'"([^"\n]+)"')


def read(path: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def split_doc(text: str) -> tuple[str, list[str]]:
    """The prose (code blocks and example spans taken out) and the code blocks' lines, with a
    line ending in a backslash joined to the next."""
    blocks = [b.replace("\\\n", " ") for b in _FENCE.findall(text)]
    prose = _EXAMPLE.sub("", _FENCE.sub("", text))
    return prose, [line.strip() for block in blocks for line in block.splitlines()]


def spans(prose: str) -> list[str]:
    return [s.strip() for s in _SPAN.findall(prose)]


# --- paths -------------------------------------------------------------------------------
TOP = set(os.listdir(ROOT)) - {".git", ".venv", ".venv-bench"}


def path_problems(doc: str, text: str) -> list[str]:
    prose, _ = split_doc(text)
    problems = []
    for span in spans(prose):
        first = span.split("/")[0]
        if _PATHLIKE.match(span) and first in TOP and ("/" in span or first == span):
            if not glob.glob(os.path.join(ROOT, span)):
                problems.append(f"{doc}: `{span}` does not exist")
    for target in _LINK.findall(_SPAN.sub("", prose)):
        if "://" not in target and not os.path.exists(
                os.path.join(ROOT, os.path.dirname(doc), target)):
            problems.append(f"{doc}: link ({target}) does not exist")
    return problems


# --- commands, options, make targets, markers ----------------------------------------------
def command_options() -> dict[str, set[str]]:
    """Every `press3way` command (plugins included) and its options; "" is the group."""
    ctx = click.Context(main)
    commands = {"": {"--help", "-h"} | {o for p in main.params for o in p.opts}}
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None, f"press3way {name} does not load"
        commands[name] = {"--help", "-h"} | {o for p in command.params
                                             for o in [*p.opts, *p.secondary_opts]}
    return commands


def command_lines(text: str) -> list[str]:
    """What follows `press3way` wherever the docs show the command run."""
    prose, code = split_doc(text)
    found = [m.group(1) for s in spans(prose) for m in [_COMMAND.match(s)] if m]
    found += [m.group(1) for line in code for m in _COMMAND.finditer(line)]
    return found


def command_problems(text: str, commands: dict[str, set[str]]) -> list[str]:
    problems = []
    for line in command_lines(text):
        words = line.split()
        name = next((w for w in words if not w.startswith("-")), "") if words else ""
        if words and words[0].startswith("-"):
            name = ""
        if name and not re.fullmatch(r"[a-z][a-z-]*", name):
            continue                    # a placeholder: press3way <command> --help
        if name not in commands:
            problems.append(f"press3way {name}: no such command")
            continue
        for option in _OPTION.findall(line):
            if option not in commands[name]:
                problems.append(f"press3way {name} {option}: no such option")
    return problems


def make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", read("Makefile"), re.M))


def make_problems(text: str, targets: set[str]) -> list[str]:
    prose, code = split_doc(text)
    problems = []
    for line in spans(prose) + code:
        if found := _MAKE.match(line):
            problems += [f"make {t}: no such target" for t in found.group(1).split()
                         if t not in targets]
    return problems


def registered_markers() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    lines = parser.get("tool:pytest", "markers").strip().splitlines()
    return {line.split(":")[0].strip() for line in lines if line.strip()}


def marker_problems(text: str, markers: set[str]) -> list[str]:
    prose, code = split_doc(text)
    problems = []
    for line in spans(prose) + code:
        for groups in _MARKERS.findall(line):
            words = re.findall(r"\w+", "".join(groups))
            problems += [f"pytest -m {w}: no such marker" for w in words
                         if w not in ("and", "or", "not") and w not in markers]
    return problems


# --- dotted names and their values ---------------------------------------------------------
def resolve(dotted: str) -> object:
    """The module or attribute a dotted name names; LookupError if none."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                value = getattr(value, attribute)
        except AttributeError:
            raise LookupError(dotted) from None
        return value
    raise LookupError(dotted)


def same(documented: str, actual: object) -> bool:
    try:
        wanted = ast.literal_eval(documented)
    except (ValueError, SyntaxError):
        wanted = documented
    if isinstance(actual, (int, float)) and isinstance(wanted, (int, float)):
        return float(actual) == float(wanted)
    return str(wanted) == str(actual)


def constant_problems(text: str) -> list[str]:
    prose, code = split_doc(text)
    problems = []
    for found in _SPAN.finditer(prose):
        name = _DOTTED.match(found.group(1).strip())
        if not name or name.group(1) == PLUGIN_GROUP:
            continue
        try:
            actual = resolve(name.group(1))
        except LookupError:
            problems.append(f"`{name.group(1)}` does not exist")
            continue
        value = _VALUE.match(prose, found.end())
        if value and not same(value.group(1).rstrip(",.;"), actual):
            problems.append(f"`{name.group(1)}` is {actual!r} in the code, "
                            f"{value.group(1)} in the docs")
    return problems


# --- citations of the docs -----------------------------------------------------------------
def headings(page: str) -> set[str]:
    path = os.path.join("docs", f"{page}.md")
    if not os.path.exists(os.path.join(ROOT, path)):
        return set()
    return {h.strip().lower() for h in re.findall(r"^#+\s+(.+)$", read(path), re.M)}


def citations(text: str) -> list[tuple[str, str | None]]:
    """(page, heading or None) for every docs/<page>.md the text cites."""
    cited: list[tuple[str, str | None]] = []
    for page, quoted in _CITATION.findall(text):
        cited += [(page, h) for h in _QUOTED.findall(quoted)] or [(page, None)]
    cited += [(page, heading) for heading, page in _CITED_BEFORE.findall(text)]
    return cited


def citation_problems(source: str, text: str) -> list[str]:
    problems = []
    for page, heading in citations(text):
        found = headings(page)
        if not found:
            problems.append(f"{source}: docs/{page}.md does not exist")
        elif heading is not None and not heading.startswith("<") \
                and heading.lower() not in found:
            problems.append(f'{source}: docs/{page}.md has no heading "{heading}"')
    return problems


def code_files() -> list[str]:
    files = ["Makefile", "setup.cfg", "pyproject.toml", "extensions_custom.conf"]
    for top in CODE_DIRS:
        for base, dirs, names in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            files += [os.path.relpath(os.path.join(base, n), ROOT) for n in names
                      if n.endswith((".py", ".agi", ".sql", ".conf"))]
    return files


# --- the call-state table ------------------------------------------------------------------
def documented_moves(text: str) -> dict[str, tuple[tuple[str, ...], str]]:
    """name: (from, to) of each row `| `name` | FROM, FROM | TO | who |` of "Call states"."""
    section = text.split("## Call states", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*`(\w+)`\s*\|([^|]*)\|([^|]*)\|", section, re.M)
    return {name: (tuple(s.strip() for s in froms.split(",")), to.strip())
            for name, froms, to in rows}


# --- the tests -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def commands() -> dict[str, set[str]]:
    return command_options()


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_a_doc_names_exists(doc):
    assert path_problems(doc, read(doc)) == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_command_and_option_a_doc_names_exists(doc, commands):
    assert command_problems(read(doc), commands) == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_make_target_and_pytest_marker_a_doc_names_exists(doc):
    text = read(doc)
    assert make_problems(text, make_targets()) + marker_problems(text, registered_markers()) == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_constant_a_doc_names_exists_with_the_value_it_gives(doc):
    assert constant_problems(read(doc)) == []


def test_every_citation_of_the_docs_finds_its_page_and_heading():
    files = [f for f in code_files() if f != os.path.join("tests", "test_docs.py")]    # examples
    problems = [p for f in files for p in citation_problems(f, read(f))]
    problems += [p for doc in DOCS for p in citation_problems(doc, read(doc))]
    assert problems == []


def test_the_call_state_table_is_callstate_moves():
    documented = documented_moves(read("docs/behaviour.md"))
    assert documented == {name: (m.from_, m.to) for name, m in MOVES.items()}


def test_nothing_cites_the_spec_that_left_the_repository():
    old = "SPEC" + " section"
    assert [f for f in code_files() + DOCS if old in read(f)] == []


def test_the_readme_stays_short():
    assert len(read("README.md").splitlines()) < README_MAX_LINES


# --- the checks themselves catch drift ------------------------------------------------------
def test_a_figure_that_is_not_the_constants_value_is_caught():
    assert constant_problems("every `press3way.legs.agent.SAFETY_POLL_S` (= 0.5) s") == [
        "`press3way.legs.agent.SAFETY_POLL_S` is 1.0 in the code, 0.5 in the docs"]
    assert constant_problems("`press3way.legs.agent.SAFETY_POLL_S` (= 1.0) s") == []


def test_a_constant_that_is_gone_is_caught():
    assert constant_problems("`press3way.db.LOCK_WAIT_S`") == ["`press3way.db.LOCK_WAIT_S` does "
                                                              "not exist"]


def test_a_path_that_is_gone_is_caught():
    text = "see `press3way/testing/sim.py` and [notes](docs/notes-standins.md)"
    assert path_problems("README.md", text) == [
        "README.md: `press3way/testing/sim.py` does not exist",
        "README.md: link (docs/notes-standins.md) does not exist"]


def test_a_command_or_option_that_is_gone_is_caught(commands):
    text = "```sh\npress3way install --bogus\npress3way frobnicate\n```\n`press3way live --watch`"
    assert command_problems(text, commands) == ["press3way install --bogus: no such option",
                                                "press3way frobnicate: no such command"]


def test_a_make_target_or_marker_that_is_gone_is_caught():
    text = "`make lint` then `make frob`; `pytest -m \"standins and not nosuch\"`"
    assert make_problems(text, {"lint"}) == ["make frob: no such target"]
    assert marker_problems(text, {"standins"}) == ["pytest -m nosuch: no such marker"]


def test_a_citation_of_a_heading_that_is_gone_is_caught():
    text = '"""(docs/behaviour.md, "Winner election"), (docs/behaviour.md, "No such")"""'
    assert citation_problems("x.py", text) == ['x.py: docs/behaviour.md has no heading "No such"']
