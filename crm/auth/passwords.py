"""The shipped list of common passwords (ASVS 2.1.7): refused at sign-up, admin creation, change and reset."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    # Read once per process: the list is static and a set lookup keeps every password check cheap.
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def is_common(password: str) -> bool:
    """Case-insensitive, ignoring surrounding spaces: "Password1234" is as guessable as "password1234"."""
    return (password or "").strip().lower() in common_passwords()
