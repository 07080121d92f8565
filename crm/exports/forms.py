from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length

from crm.exports.operations import REASON_MAX, REASON_MIN


class ReasonForm(FlaskForm):
    """Why personal data leaves the system: stored with the access-log row of the export."""

    reason = TextAreaField(
        _l("Purpose of the export"),
        validators=[
            InputRequired(_l("Say why you need the personal data in this file.")),
            Length(
                min=REASON_MIN,
                max=REASON_MAX,
                message=_l(
                    "Describe the purpose in %(min)s to %(max)s characters.", min=REASON_MIN, max=REASON_MAX
                ),
            ),
        ],
        description=_l("E.g. 협약 체결 안내 전화 명단 (2차 공고 선정기업). It is kept in the access log."),
        render_kw={"rows": 3, "maxlength": REASON_MAX},
    )
