"""Status notices to a firm (DESIGN.md §6: 접수 완료, 보완 요청, 선정 결과, 협약 안내 …) as text
templates, one per event and language: templates/notices/status/<event>.<locale>.txt, whose first line
is "Subject: …", then a blank line, then the body.

Each recipient reads its own language (a portal user's chosen locale; contacts, who have none, Korean),
rendered into its delivery through queue_notice's `personalise`. The Notice row keeps the Korean text, which
the firm's notice list and the staff pages show. A language without a template falls back to Korean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from jinja2 import Environment, Template, TemplateNotFound

from crm.notices.models import Notice, NoticeKind
from crm.notices.outbox import Recipient, firm_recipients, queue_notice

STATUS_EVENTS = (
    "application_received",
    "supplement_requested",
    "eligibility_result",
    "selection_result",
    "agreement_guide",
    "selection_cancelled",
    "termination",
)
DEFAULT_LOCALE = "ko"
SUBJECT_PREFIX = "Subject:"
SUBJECT_MAX_CHARS = 200  # Notice.subject and Delivery.subject are VARCHAR(200)


def _environment() -> Environment:
    """The app's Jinja environment (its loader and the |date, |won filters) without HTML escaping, with
    block tags on their own lines leaving no blank lines behind."""
    env = current_app.extensions.get("status_notice_env")
    if env is None:
        env = current_app.jinja_env.overlay(autoescape=False, trim_blocks=True, lstrip_blocks=True)
        current_app.extensions["status_notice_env"] = env
    return env


def _language(locale: str | None) -> str:
    return (locale or DEFAULT_LOCALE).replace("-", "_").split("_")[0].lower() or DEFAULT_LOCALE


def _template(event: str, language: str) -> tuple[Template, str]:
    env = _environment()
    try:
        return env.get_template(f"notices/status/{event}.{language}.txt"), language
    except TemplateNotFound:
        if language == DEFAULT_LOCALE:
            raise
        return env.get_template(f"notices/status/{event}.{DEFAULT_LOCALE}.txt"), DEFAULT_LOCALE


def render_status(event: str, locale: str | None, context: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) of the status notice `event` in `locale` (Korean when there is no such template).
    Dates and amounts in the context go through the |date and |won filters in that language."""
    if event not in STATUS_EVENTS:
        raise ValueError(f"unknown status notice {event!r}")
    template, language = _template(event, _language(locale))
    with force_locale(language):
        text = template.render(**context)
    return _split(text, template.name or event)


def _split(text: str, name: str) -> tuple[str, str]:
    first, _, rest = text.lstrip("\n").partition("\n")
    if not first.startswith(SUBJECT_PREFIX):
        raise ValueError(f"{name}: the first line must be “{SUBJECT_PREFIX} …”")
    subject = " ".join(first[len(SUBJECT_PREFIX) :].split())
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 1] + "…"
    body = re.sub(r"\n{3,}", "\n\n", rest).strip("\n").rstrip()
    return subject, body


def portal_path(endpoint: str, **values: Any) -> str:
    """The portal page a notice points to, as a path (the firm opens it on the site it signed up on).
    Works outside a request too (a worker, the CLI)."""
    if has_request_context():
        return url_for(endpoint, **values)
    return current_app.url_map.bind("localhost").build(endpoint, values)


def queue_status_notice(firm: Any, event: str, context: Mapping[str, Any], about: Any = None) -> Notice:
    """Queues the status notice `event` to the firm's portal users and primary contacts, each in its own
    language; never commits (the outbox sends it after the caller's commit)."""
    values = {"firm": firm.name, **context}
    subject, body = render_status(event, DEFAULT_LOCALE, values)

    def personalise(recipient: Recipient) -> tuple[str, str]:
        return render_status(event, recipient.locale, {**values, "recipient_name": recipient.name})

    return queue_notice(
        kind=NoticeKind.status_change,
        subject=subject,
        body=body,
        recipients=firm_recipients(firm),
        firm_id=firm.id,
        about=about,
        personalise=personalise,
    )
