"""Korean business identifiers: 사업자등록번호 (BRN), 법인등록번호, and Hangul initial consonants (초성)."""

from __future__ import annotations

import re

_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)
_NON_DIGITS = re.compile(r"[\s\-]")


class InvalidIdentifier(ValueError):
    """The text is not a well-formed identifier; `reason` is a short machine code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _digits(value: str, length: int) -> str:
    digits = _NON_DIGITS.sub("", value or "")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidIdentifier("not_digits")
    if len(digits) != length:
        raise InvalidIdentifier("wrong_length")
    return digits


def brn_check_digit(first_nine: str) -> int:
    d = [int(c) for c in first_nine]
    total = sum(x * w for x, w in zip(d, _BRN_WEIGHTS, strict=True)) + (d[8] * 5) // 10
    return (10 - total % 10) % 10


def normalize_brn(value: str) -> str:
    """'124-81-00998' or '1248100998' → '1248100998'; raises InvalidIdentifier otherwise."""
    digits = _digits(value, 10)
    if brn_check_digit(digits[:9]) != int(digits[9]):
        raise InvalidIdentifier("checksum")
    return digits


def is_valid_brn(value: str) -> bool:
    try:
        normalize_brn(value)
    except InvalidIdentifier:
        return False
    return True


def format_brn(digits: str) -> str:
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}" if len(digits) == 10 else digits


def is_sole_proprietor_brn(digits: str) -> bool:
    """개인사업자: the middle two digits 01–79 mark an individual's business, so its BRN is personal data."""
    return len(digits) == 10 and digits.isdigit() and 1 <= int(digits[3:5]) <= 79


def mask_brn(digits: str) -> str:
    """'123-45-*****' for a sole proprietor (the last five digits identify the person); others in full."""
    if not is_sole_proprietor_brn(digits):
        return format_brn(digits)
    return f"{digits[:3]}-{digits[3:5]}-*****"


def corp_no_check_digit(first_twelve: str) -> int:
    total = sum(int(c) * (1 if i % 2 == 0 else 2) for i, c in enumerate(first_twelve))
    return (10 - total % 10) % 10


def normalize_corp_no(value: str) -> str:
    """'110111-0062432' → '1101110062432'; raises InvalidIdentifier otherwise."""
    digits = _digits(value, 13)
    if corp_no_check_digit(digits[:12]) != int(digits[12]):
        raise InvalidIdentifier("checksum")
    return digits


def format_corp_no(digits: str) -> str:
    return f"{digits[:6]}-{digits[6:]}" if len(digits) == 13 else digits


# --- 초성 (Hangul initial consonants) -------------------------------------------------------------

_CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_CHOSEONG_SET = frozenset(_CHOSEONG)
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
# Legal-form markers are dropped so "(주)울산…" is found by "ㅇㅅ" at the start.
_LEGAL_FORMS = re.compile(
    r"\(주\)|㈜|주식회사|\(유\)|유한회사|\(합\)|합자회사|\(사\)|사단법인|\(재\)|재단법인"
)


def hangul_initials(text: str) -> str:
    """'(주)울산스마트팩토리' → 'ㅇㅅㅅㅁㅌㅍㅌㄹ'; non-Hangul letters and digits kept, lower-cased."""
    out = []
    for char in _LEGAL_FORMS.sub("", text or ""):
        code = ord(char)
        if _HANGUL_FIRST <= code <= _HANGUL_LAST:
            out.append(_CHOSEONG[(code - _HANGUL_FIRST) // 588])
        elif char in _CHOSEONG_SET or char.isalnum():
            out.append(char.lower())
    return "".join(out)


def is_initials_query(query: str) -> bool:
    """True when the query is made only of initial consonants (and spaces), e.g. 'ㅇㅅ'."""
    stripped = query.replace(" ", "")
    return bool(stripped) and all(char in _CHOSEONG_SET for char in stripped)
