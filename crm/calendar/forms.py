from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField


class CreateFeedForm(FlaskForm):
    # Only asked when a feed already exists: making a new one stops the old address.
    replace = BooleanField(
        _l(
            "I understand that the current address stops working and calendars subscribed to it stop "
            "updating."
        )
    )


class RevokeFeedForm(FlaskForm):
    """The confirmation page's button: nothing to fill in but the CSRF token."""
