"""A full disk and a read-only file system during `install` and `uninstall`: the administrator's
files (dialplan, AGI scripts) stay byte for byte as they were. On a small real tmpfs."""

from __future__ import annotations

import os
import subprocess

import pytest

from press3way.admin import block
from press3way.admin.files import TEMP_PREFIX, Changes, FileChangeError
from press3way.database import DatabaseError, execute
from press3way.tables import FEATURE_TABLES
from press3way_testing.site import Site
from tests.helpers import cli

SIZE = "1m"
SITE_LINES = "[default]\nexten => 8300,1,Hangup()\n"


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MB tmpfs with an Asterisk configuration directory and an agi-bin in it."""
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point))
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'not permitted'}")
    try:
        (mount_point / "asterisk").mkdir()
        (mount_point / "agi-bin").mkdir()
        (mount_point / "asterisk" / "extensions.conf").write_text(
            SITE_LINES + "#include extensions_custom.conf\n")
        (mount_point / "asterisk" / "extensions_custom.conf").write_text("; the site's own\n")
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


@pytest.fixture
def disk_site(mariadb, small_fs, tmp_path) -> Site:
    site = Site(server=mariadb, db_name="press3way_disk")
    site.create()
    site.reset()
    for table in FEATURE_TABLES:
        execute(site.connect(), f"DROP TABLE {table}")
    site.conf_path = site.write_conf(str(tmp_path / "astguiclient.conf"), str(tmp_path))
    site.fs = small_fs
    return site


def run(site: Site, command: str):
    return cli(site.conf_path, command, "--agi-dir", str(site.fs / "agi-bin"),
               "--asterisk-dir", str(site.fs / "asterisk"))


def files(fs) -> dict[str, bytes]:
    """Every file on the small file system but the filler, byte for byte."""
    out = {}
    for directory, _, names in os.walk(fs):
        for name in names:
            path = os.path.join(directory, name)
            if name != "filler":
                with open(path, "rb") as f:
                    out[os.path.relpath(path, fs)] = f.read()
    return out


def fill(fs) -> None:
    """Write a file until the file system is full."""
    with open(fs / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def remount_read_only(fs) -> None:
    result = _mount("-o", "remount,ro", str(fs))
    assert result.returncode == 0, result.stderr


def no_temporaries(fs) -> bool:
    return not any(n.startswith(TEMP_PREFIX) for _, _, names in os.walk(fs) for n in names)


def test_install_on_a_full_disk_changes_nothing(disk_site):
    fill(disk_site.fs)
    before = files(disk_site.fs)
    result = run(disk_site, "install")
    assert result.exit_code == 1
    assert "nothing was changed" in result.output and "bytes free" in result.output
    assert files(disk_site.fs) == before and no_temporaries(disk_site.fs)


def test_install_on_a_read_only_file_system_changes_nothing(disk_site):
    before = files(disk_site.fs)
    remount_read_only(disk_site.fs)
    result = run(disk_site, "install")
    assert result.exit_code == 1
    assert "read-only file system" in result.output
    assert files(disk_site.fs) == before


@pytest.mark.parametrize("breakage", ["full", "read-only"])
def test_uninstall_on_a_broken_file_system_changes_nothing(disk_site, breakage):
    assert run(disk_site, "install").exit_code == 0
    installed = files(disk_site.fs)
    assert block.find(installed["asterisk/extensions_custom.conf"].decode())
    if breakage == "full":
        fill(disk_site.fs)
    else:
        remount_read_only(disk_site.fs)
    result = run(disk_site, "uninstall")
    assert result.exit_code == 1
    assert "nothing was changed" in result.output
    assert files(disk_site.fs) == installed and no_temporaries(disk_site.fs)


def test_a_write_that_runs_out_of_space_leaves_the_file_as_it_was(small_fs):
    """Below the preconditions: the staged write itself fails, the target is untouched."""
    target = small_fs / "asterisk" / "extensions_custom.conf"
    before = target.read_bytes()
    fill(small_fs)
    changes = Changes()
    with pytest.raises(FileChangeError, match="no space left"):
        changes.write(str(target), b";" * 1_000_000)
    assert target.read_bytes() == before and no_temporaries(small_fs)


def test_a_replaced_file_keeps_its_mode_and_owner(small_fs):
    target = small_fs / "asterisk" / "extensions_custom.conf"
    os.chown(target, 1234, 5678)
    os.chmod(target, 0o640)
    changes = Changes()
    changes.write(str(target), b"; new\n")
    changes.commit()
    st = os.stat(target)
    assert (target.read_bytes(), st.st_uid, st.st_gid, st.st_mode & 0o777) == \
        (b"; new\n", 1234, 5678, 0o640)
    assert no_temporaries(small_fs)


def test_a_commit_that_fails_half_way_puts_back_what_it_had_done(small_fs, tmp_path):
    """Two files on two file systems; the second turns read-only between staging and commit:
    the first, already renamed into place, is put back."""
    first, second = tmp_path / "first.conf", small_fs / "asterisk" / "extensions_custom.conf"
    first.write_bytes(b"; first as it was\n")
    before = second.read_bytes()
    changes = Changes()
    changes.write(str(first), b"; first, new\n")
    changes.write(str(second), b"; second, new\n")
    remount_read_only(small_fs)
    with pytest.raises(FileChangeError, match="read-only file system"):
        changes.commit()
    assert (first.read_bytes(), second.read_bytes()) == (b"; first as it was\n", before)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TEMP_PREFIX)]


def test_a_failed_last_step_puts_the_files_back(tmp_path):
    """The Custom Dialplan Entry is written after the renames; if that fails, they are undone."""
    script = tmp_path / "agi-3way_press_agent.agi"
    script.write_bytes(b"#!/usr/bin/perl\n")
    changes = Changes()
    changes.keep_as(str(script), str(script) + ".press3way-backup")
    changes.write(str(script), b"#!/usr/bin/python3\n", 0o755)

    def database_refuses() -> None:
        raise DatabaseError("the database went away")
    with pytest.raises(DatabaseError):
        changes.commit(then=database_refuses)
    assert os.listdir(tmp_path) == ["agi-3way_press_agent.agi"]
    assert script.read_bytes() == b"#!/usr/bin/perl\n"
