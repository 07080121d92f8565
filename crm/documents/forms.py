from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField

from crm.documents.storage import ACCEPT


class UploadForm(FlaskForm):
    """Kind and file are checked by the operation (one place for the messages, shared with the API); the
    form carries them and the CSRF token."""

    kind = SelectField(_l("Document"), validate_choice=False)
    file = FileField(_l("File"), render_kw={"accept": ACCEPT})
    next = HiddenField()

    def __init__(self, *args: Any, choices: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = choices or []
