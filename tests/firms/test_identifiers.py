from __future__ import annotations

import pytest

from crm.firms.identifiers import (
    InvalidIdentifier,
    format_brn,
    hangul_initials,
    is_initials_query,
    is_valid_brn,
    normalize_brn,
    normalize_corp_no,
)


@pytest.mark.parametrize("value", ["124-81-00998", "1248100998", " 124 81 00998 "])
def test_valid_brn_with_or_without_dashes(value):
    assert is_valid_brn(value)
    assert normalize_brn(value) == "1248100998"


@pytest.mark.parametrize("value", ["124-81-00997", "1248100997"])
def test_brn_with_wrong_check_digit_is_refused(value):
    assert not is_valid_brn(value)
    with pytest.raises(InvalidIdentifier) as error:
        normalize_brn(value)
    assert error.value.reason == "checksum"


@pytest.mark.parametrize(
    ("value", "reason"), [("124-81-0099", "wrong_length"), ("124-81-0099a", "not_digits"), ("", "not_digits")]
)
def test_malformed_brn_reasons(value, reason):
    with pytest.raises(InvalidIdentifier) as error:
        normalize_brn(value)
    assert error.value.reason == reason


def test_brn_is_shown_with_dashes():
    assert format_brn("1248100998") == "124-81-00998"


@pytest.mark.parametrize("value", ["110111-0062432", "1101110062432"])
def test_valid_corporate_registration_number(value):
    assert normalize_corp_no(value) == "1101110062432"


def test_corporate_registration_number_with_wrong_check_digit_is_refused():
    with pytest.raises(InvalidIdentifier) as error:
        normalize_corp_no("110111-0062433")
    assert error.value.reason == "checksum"


def test_initials_ignore_the_legal_form():
    assert hangul_initials("(주)울산스마트팩토리").startswith("ㅇㅅ")
    assert is_initials_query("ㅇㅅ")
    assert not is_initials_query("울산")
