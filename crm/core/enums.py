"""Enums that carry a translated title, and the transition-table helper for statuses."""

from __future__ import annotations

import enum
from collections.abc import Mapping


class LabelledEnum(enum.StrEnum):
    """A string enum whose members have a translated title: subclasses define `_titles()`."""

    @classmethod
    def _titles(cls) -> Mapping[LabelledEnum, str]:
        return {}

    @property
    def title(self) -> str:
        return str(type(self)._titles().get(self, self.value))

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.title) for member in cls]


class IllegalTransition(Exception):
    """Raised when a status move is not in the transition table; nothing is written."""

    def __init__(self, current: enum.Enum, target: enum.Enum) -> None:
        super().__init__(f"{current.value} → {target.value} is not allowed")
        self.current = current
        self.target = target


def check_transition(
    table: Mapping[enum.Enum, frozenset[enum.Enum]], current: enum.Enum, target: enum.Enum
) -> None:
    """The transition table is the only place that knows which move is legal."""
    if target not in table.get(current, frozenset()):
        raise IllegalTransition(current, target)
