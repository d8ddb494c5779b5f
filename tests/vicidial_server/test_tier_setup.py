"""The tier's plumbing that needs no server: its root, and the one line it skips with."""

from press3way_testing.asterisk import root
from press3way_testing.vicidial_server import session, vicidial_files
from press3way_testing.vicidial_server.root import VICIDIAL


def test_the_vicidial_root_is_the_asterisk_roots_packages_plus_vicidials_own():
    assert VICIDIAL.packages[:len(root.PACKAGES)] == root.PACKAGES
    for package in ("libdbd-mysql-perl", "libnet-telnet-perl", "libnet-server-perl",
                    "libasterisk-agi-perl", "php-cli", "php-mysql"):
        assert package in VICIDIAL.packages
    assert VICIDIAL.default_path != root.DEFAULT_ROOT and VICIDIAL.env != root.ROOT_ENV


def test_without_vicidials_files_the_tier_names_the_first_one_missing(tmp_path, monkeypatch):
    monkeypatch.setenv(vicidial_files.SHARED_ENV, str(tmp_path))
    assert session.why_unavailable() == \
        f"needs VICIdial's MySQL_AST_CREATE_tables.sql in {tmp_path / 'vicidial'}"


def test_not_root_and_no_root_built_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv(VICIDIAL.env, str(tmp_path / "absent"))
    monkeypatch.setattr(root.os, "geteuid", lambda: 1000)
    assert session.why_unavailable() == "needs root (mmdebstrap and chroot)"
