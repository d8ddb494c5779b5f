"""Call ids and the multi-call rule (docs/behaviour.md, the agent leg), as pure functions."""

from __future__ import annotations

import re

import pytest

from press3way import dialstrings

# What VICIdial's call logger (FastAGI_log.pl) takes for a Perl-version 3-way call id: it
# appends its own `Hungup` to the log of any call whose caller id name matches this.
PERL_CALL_ID = re.compile(r"^T\d{19}")
TEN = [f"172755512{n:02d}" for n in range(12)]       # 11-digit numbers


@pytest.mark.parametrize("now", [0.0, 1e9 / 100, 36 ** 7 / 100 * 9, 1_764_000_000.0,
                                 2_400_000_000.0])
def test_a_call_id_never_has_the_perl_versions_shape_whatever_the_clock(now):
    """At now=0 (and whenever the stamp's 8 base-36 characters are digits) the id used to be
    `T` + 19 digits."""
    ids = dialstrings.call_ids(1234567, dialstrings.MULTI_MAX, now)
    assert [i for i in ids if PERL_CALL_ID.match(i)] == []
    assert len(set(ids)) == len(ids) and all(len(i) == 20 for i in ids)
    assert all(re.fullmatch(r"[0-9A-Z]+", i) for i in ids)   # fine as a caller id name


def test_call_ids_of_two_batches_a_centisecond_apart_differ():
    first = dialstrings.call_ids(7, 3, 1_764_000_000.00)
    second = dialstrings.call_ids(7, 3, 1_764_000_000.01)
    assert not set(first) & set(second)


def test_multi_prefix_is_the_dialstring_minus_the_first_numbers_length():
    """VICIdial's rule: the agent dials prefix + a placeholder as long as the list's first
    number; an 11-digit list behind prefix 9 is dialled 9 + number, not 91 + number."""
    prefix, numbers, skipped = dialstrings.multi_dial("917275551212", "17275551212,17275551213")
    assert (prefix, numbers, skipped) == ("9", ["17275551212", "17275551213"], [])
    prefix, numbers, _ = dialstrings.multi_dial("917275551212", "55512,7275551212")
    assert (prefix, numbers) == ("9172755", ["55512", "7275551212"])


def test_multi_dials_the_first_ten_valid_numbers_and_names_every_other_item():
    text = ",".join([TEN[0], "12ab", TEN[1], TEN[0], "1234", *TEN[2:]])
    prefix, numbers, skipped = dialstrings.multi_dial("917275551200", text)
    assert prefix == "9" and numbers == TEN[:10]
    assert skipped == ["'12ab' is not 5 to 18 digits", f"{TEN[0]} appears twice",
                       "'1234' is not 5 to 18 digits",
                       f"{TEN[10]} is past the first 10 numbers",
                       f"{TEN[11]} is past the first 10 numbers"]


def test_multi_number_that_would_not_fit_the_dialstring_column_is_named():
    dialstring = "9" * 22 + "55512"                          # 28 characters, prefix of 22
    prefix, numbers, skipped = dialstrings.multi_dial(dialstring, "55512,1234567")
    assert numbers == ["55512"]
    assert skipped == [f"{prefix}1234567 is longer than 28 characters"]
