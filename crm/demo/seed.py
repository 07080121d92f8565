from __future__ import annotations


def seed_demo() -> bool:
    return False
