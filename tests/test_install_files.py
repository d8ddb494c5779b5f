"""`install` where others can write into agi-bin or the Asterisk directory: a temporary file is
written, chmodded and chowned only through the descriptor that made it, and a symlink that
somebody else made is never followed nor replaced (one line says why, nothing changes)."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from press3way.admin.files import Changes, FileChangeError, own_path
from press3way.admin.targets import DialplanFile

OTHER_UID = 4321          # somebody else: Asterisk's user, a web server


@pytest.fixture
def victim(tmp_path):
    """A file the attacker wants press3way to write or hand over (think /etc/shadow)."""
    path = tmp_path / "victim"
    path.write_text("root's own\n")
    path.chmod(0o600)
    return path


def untouched(victim) -> bool:
    st = os.stat(victim)
    return (victim.read_text() == "root's own\n" and stat.S_IMODE(st.st_mode) == 0o600
            and st.st_uid == os.geteuid())


def one_line(exc: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_a_symlink_planted_in_place_of_the_temporary_file_is_never_written_through(
        tmp_path, victim, monkeypatch):
    """The race: right after mkstemp made the temporary file, somebody puts a symlink to the
    victim under its name (the old code then reopened the name, chmodded and chowned it)."""
    target = tmp_path / "agi-3way_press_agent.agi"
    target.write_text("old\n")
    real_mkstemp, planted = tempfile.mkstemp, []

    def mkstemp(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        if not planted:
            os.unlink(name)
            os.symlink(victim, name)
            planted.append(name)
        return fd, name
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    changes = Changes()
    with pytest.raises(FileChangeError) as refused:
        changes.write(str(target), b"new\n", 0o755)
        changes.commit()
    assert "was replaced while press3way wrote it" in one_line(refused)
    assert untouched(victim)
    assert target.read_text() == "old\n" and not target.is_symlink()


def test_a_symlink_somebody_else_made_in_place_of_the_target_is_refused(tmp_path, victim):
    target = tmp_path / "agi-3way_press_agent.agi"
    os.symlink(victim, target)
    os.lchown(target, OTHER_UID, OTHER_UID)
    with pytest.raises(FileChangeError) as refused:
        Changes().write(str(target), b"new\n", 0o755)
    assert f"made by uid {OTHER_UID}" in one_line(refused)
    assert os.readlink(target) == str(victim) and untouched(victim)
    assert set(os.listdir(tmp_path)) == {"victim", target.name}      # no temporary left


def test_our_own_symlink_is_replaced_by_a_file_of_ours(tmp_path, victim):
    """`install --link` then `install`: the link becomes a copy, root's, with the mode asked."""
    target = tmp_path / "agi-3way_press_agent.agi"
    os.symlink(victim, target)
    changes = Changes()
    changes.write(str(target), b"new\n", 0o755)
    changes.commit()
    st = os.lstat(target)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755
    assert (st.st_uid, target.read_text()) == (os.geteuid(), "new\n") and untouched(victim)


def test_a_file_given_to_another_owner_gets_that_owner_through_its_descriptor(tmp_path):
    target = tmp_path / "extensions_custom.conf"
    target.write_text("; old\n")
    os.chown(target, OTHER_UID, OTHER_UID)
    target.chmod(0o640)
    changes = Changes()
    changes.write(str(target), b"; new\n")
    changes.commit()
    st = os.stat(target)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (OTHER_UID, OTHER_UID, 0o640)


def test_a_dialplan_file_linked_by_somebody_else_is_refused(tmp_path, victim):
    """The admin's own link is followed (the file it points at changes); another's is not."""
    dialplan = tmp_path / "extensions_custom.conf"
    os.symlink(victim, dialplan)
    assert own_path(str(dialplan)) == str(victim)
    os.lchown(dialplan, OTHER_UID, OTHER_UID)
    with pytest.raises(FileChangeError) as refused:
        DialplanFile(str(dialplan), str(tmp_path)).stage(Changes(), "; ours\n")
    assert f"made by uid {OTHER_UID}" in one_line(refused)
    assert untouched(victim)
