from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField

from crm.imports.mapping import FIELDS, REQUIRED_KEYS
from crm.imports.models import ImportJob
from crm.imports.parsing import column_label


class UploadForm(FlaskForm):
    """The file is checked by the operation (type by content, size, rows), which puts its messages here."""

    file = FileField(
        _l("File (XLSX or CSV)"),
        description=_l(
            "The first row must hold the column names. At most 10 MB and 20,000 rows. CSV as UTF-8 or CP949."
        ),
        render_kw={"accept": ".xlsx,.csv,text/csv"},
    )


class MappingForm(FlaskForm):
    """One select per importable field, listing the file's columns; built for a job's header."""

    @classmethod
    def for_job(cls, job: ImportJob, **kwargs: Any) -> MappingForm:
        choices = [("", str(_l("— not imported —")))] + [
            (str(index), column_label(index, header)) for index, header in enumerate(job.headers)
        ]

        class Form(cls):  # type: ignore[valid-type, misc]
            pass

        for field in FIELDS:
            description = _l("Required.") if field.key in REQUIRED_KEYS else None
            if field.key == "name":
                description = _l("Required for firms not registered yet.")
            setattr(
                Form,
                field.key,
                SelectField(field.label, choices=choices, default="", description=description),
            )
        form = Form(**kwargs)
        if not form.is_submitted():
            for field in FIELDS:
                index = job.mapping.get(field.key)
                form[field.key].data = "" if index is None else str(index)
        return form

    def to_mapping(self) -> dict[str, int | None]:
        return {field.key: int(self[field.key].data) if self[field.key].data else None for field in FIELDS}

    def firm_fields(self) -> list[Any]:
        return [self[field.key] for field in FIELDS if not field.contact]

    def contact_fields(self) -> list[Any]:
        return [self[field.key] for field in FIELDS if field.contact]


class ActionForm(FlaskForm):
    """Apply and run-now buttons: the CSRF token only."""


class RevertForm(FlaskForm):
    confirm = BooleanField(
        _l(
            "I understand: the firms and contacts this import created are deleted and the fields it "
            "changed go back."
        )
    )
