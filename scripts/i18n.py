"""Keeps the Korean and English catalogues in step with the code.

    .venv/bin/python scripts/i18n.py          # extract, update both catalogues, fill English, import pending
    .venv/bin/python scripts/i18n.py --check  # exit 1 listing every msgid missing from either catalogue

Source strings are English, so the English catalogue translates each msgid to itself; the Korean one is
written by people. Korean for new strings can be dropped into translations/pending/*.json
({"msgid": "한국어"}); they are imported here (and the JSON files removed with --consume).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
LOCALES = ("ko", "en")
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
METHOD_MAP = [
    ("crm/**.py", "python"),
    ("workers/**.py", "python"),
    ("templates/**.html", "jinja2"),
]


def extract() -> Catalog:
    template = Catalog(project="AX CRM", charset="utf-8")
    options = {"templates/**.html": {"extensions": "jinja2.ext.do"}}
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), METHOD_MAP, options_map=options, keywords={**KEYWORDS}
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    with po_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale)


def save(catalog: Catalog, locale: str) -> None:
    with po_path(locale).open("wb") as handle:
        write_po(
            handle,
            catalog,
            omit_header=False,
            sort_output=True,
            width=0,
            no_location=True,
            ignore_obsolete=True,
        )


def pending() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((TRANSLATIONS / "pending").glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def missing(template: Catalog, catalog: Catalog) -> list[str]:
    out = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        strings = found.string if found is not None else None
        if found is None or found.fuzzy or not strings or (isinstance(strings, tuple) and not all(strings)):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def update(consume: bool = False) -> int:
    template = extract()
    korean_pending = pending()
    for locale in LOCALES:
        catalog = load(locale)
        catalog.update(template, no_fuzzy_matching=True)
        for message in catalog:
            if not message.id:
                continue
            message.flags.discard("fuzzy")
            if locale == "en":
                message.string = message.id if isinstance(message.id, str) else tuple(message.id)
            elif isinstance(message.id, str) and message.id in korean_pending:
                message.string = korean_pending[message.id]
        save(catalog, locale)
    remaining = {locale: missing(template, load(locale)) for locale in LOCALES}
    if consume:
        for path in (TRANSLATIONS / "pending").glob("*.json"):
            path.unlink()
    for locale, ids in remaining.items():
        for msgid in ids:
            print(f"{locale}: untranslated: {msgid!r}")
    return 0


def check() -> int:
    template = extract()
    problems = [(locale, msgid) for locale in LOCALES for msgid in missing(template, load(locale))]
    for locale, msgid in problems:
        print(f"{locale}: missing translation for {msgid!r}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(check() if "--check" in sys.argv else update(consume="--consume" in sys.argv))
