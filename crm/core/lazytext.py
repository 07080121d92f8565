"""Lazy messages are text, never markup.

flask_babel's LazyString declares itself safe HTML (its `__html__` returns the text unchanged), so Jinja's
autoescape and WTForms' labels print a lazy message as is. A message that interpolates stored or submitted
data — a KPI's name in a field label, a CSV cell in an import problem, a firm's name in an error — would then
put a stored `<script>` into the page raw. Escaping in `__html__` makes lazy messages behave like `str`."""

from __future__ import annotations

from flask_babel.speaklater import LazyString
from markupsafe import escape


def _escaped_html(self: LazyString) -> str:
    return str(escape(str(self)))


def escape_lazy_strings() -> None:
    """Idempotent: every app created in a process shares the one class."""
    LazyString.__html__ = _escaped_html  # type: ignore[method-assign]
