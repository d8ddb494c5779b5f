"""The cached root's plumbing that needs no Asterisk: the mirror, the reasons, the flags."""

import pytest

from press3way_testing.asterisk import root
from press3way_testing.asterisk.instance_dialplan import Timeouts, block_with_timeouts

from .conftest import BLOCK


def test_mirror_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# http://snapshot.example/archive/debian/2025\n"
        "URIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert root.host_mirror(str(tmp_path)) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources_and_fallback(tmp_path):
    (tmp_path / "sources.list").write_text(
        "deb [signed-by=/k.gpg] http://other.example/debian/ bookworm main\n")
    assert root.host_mirror(str(tmp_path)) == "http://other.example/debian"
    assert root.host_mirror(str(tmp_path / "none")) == root.FALLBACK_MIRROR


def test_no_root_and_not_root_user_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv(root.ROOT_ENV, str(tmp_path / "absent"))
    monkeypatch.setattr(root.os, "geteuid", lambda: 1000)
    assert root.why_not_buildable() == "needs root (mmdebstrap and chroot)"
    with pytest.raises(root.RootUnavailable, match="needs root"):
        root.ensure_root()


def test_block_with_other_flags_changes_only_the_flags():
    text = BLOCK.read_text()
    changed = block_with_timeouts(text, Timeouts(agent=7, dial=3, press=2, accept=4))
    assert "start---7---3" in changed and "WaitExten(2)" in changed and "accepted---4" in changed
    assert len(changed.splitlines()) == len(text.splitlines())
    assert [line for line in changed.splitlines() if line.startswith(";")] == \
        [line for line in text.splitlines() if line.startswith(";")]
