"""SMS and 카카오 알림톡 through the text provider's HTTP API (DESIGN.md §6).

One JSON POST per message to TEXT_API_URL with `Authorization: Bearer TEXT_API_KEY`. An 알림톡 delivery
tries 알림톡 first and falls back to SMS when 알림톡 fails (the firm's number may not use KakaoTalk, or the
template may be refused); an SMS delivery goes straight to SMS. What the last attempt answered decides the
outcome: HTTP 429, 5xx and connection trouble are temporary (the outbox retries with backoff), any other
non-2xx is permanent. Every request carries the delivery's Message-ID as `ref`, so a provider can drop a
resend after a lost answer. Without TEXT_API_URL the payloads are written to OUTBOX_DIR instead (a bare
machine under `make run`, like mail without SMTP).

Marketing text messages go only to a contact who consented to marketing, checked at send time: a consent
withdrawn after the notice was queued stops the message.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy.orm import object_session

from crm.extensions import db
from crm.notices.errors import PermanentFailure, SendFailure, TemporaryFailure
from crm.notices.models import Delivery

TEXT_CHANNELS = ("alimtalk", "sms")
TIMEOUT_SECONDS = 10
ALIMTALK_MAX_CHARS = 1000  # 카카오 알림톡's limit for a message
SMS_MAX_CHARS = 2000  # long SMS (LMS)
# Korean mobile numbers: 010 (and the old 011/016/017/018/019) with 7 or 8 more digits.
_MOBILE = re.compile(r"01[016789][0-9]{7,8}")
_SEPARATORS = re.compile(r"[\s\-.()]")


def normalise_phone(raw: str | None) -> str | None:
    """010-1234-5678, 010 1234 5678 and +82 10-1234-5678 all become 01012345678; anything that is not a
    Korean mobile number (a landline cannot take SMS or 알림톡) gives None."""
    digits = _SEPARATORS.sub("", raw or "")
    if digits.startswith("+82"):
        digits = "0" + digits[3:].lstrip("0")
    return digits if _MOBILE.fullmatch(digits) else None


def send_text(delivery: Delivery, subject: str, body: str) -> None:
    """Sends one delivery of the "alimtalk" or "sms" channel; raises TemporaryFailure or PermanentFailure."""
    if delivery.channel not in TEXT_CHANNELS:
        raise PermanentFailure(f"The channel {delivery.channel!r} is not a text channel.")
    phone = normalise_phone(delivery.recipient)
    if phone is None:
        raise PermanentFailure(f"No valid mobile number: {delivery.recipient!r}.")
    _check_marketing_consent(delivery)

    config = current_app.config
    common = {"from": config.get("TEXT_SENDER") or "", "to": phone, "ref": delivery.message_id or ""}
    attempts: list[dict[str, Any]] = []
    if delivery.channel == "alimtalk":
        attempts.append(
            {
                "type": "alimtalk",
                **common,
                "template": alimtalk_template(delivery),
                "text": body[:ALIMTALK_MAX_CHARS],
            }
        )
    attempts.append({"type": "sms", **common, "text": _sms_text(subject, body)})

    failures: list[SendFailure] = []
    for payload in attempts:
        try:
            post_message(payload)
        except SendFailure as failure:
            failures.append(failure)
            continue
        return
    message = "; ".join(f"{p['type']}: {f.message}" for p, f in zip(attempts, failures, strict=True))
    raise type(failures[-1])(message)


def alimtalk_template(delivery: Delivery) -> str:
    """The code of the 알림톡 template registered with the provider: one per notice kind."""
    return f"axcrm_{delivery.notice.kind.value}"


def _sms_text(subject: str, body: str) -> str:
    text = f"{subject}\n\n{body}" if subject else body
    return text[:SMS_MAX_CHARS]


def _check_marketing_consent(delivery: Delivery) -> None:
    if not delivery.notice.marketing:
        return
    from crm.firms.models import Contact

    session = object_session(delivery) or db.session
    contact = session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    if contact is None or contact.consent_marketing_at is None:
        raise PermanentFailure("No marketing consent from this recipient; a marketing message was not sent.")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A provider that answers a POST with a redirect is misconfigured: following it would turn the POST into
    a GET elsewhere, so the 3xx is reported as it is (and counts as permanent)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post_message(payload: dict[str, Any]) -> None:
    """POSTs one message to the provider; anything but a 2xx answer raises TemporaryFailure or
    PermanentFailure."""
    config = current_app.config
    url = config.get("TEXT_API_URL")
    if not url:
        _write_to_outbox(payload)
        return
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Authorization": f"Bearer {config.get('TEXT_API_KEY') or ''}",
        },
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as error:
        detail = _error_detail(error)
        text = f"HTTP {error.code}{': ' + detail if detail else ''}"
        if error.code == 429 or error.code >= 500:
            raise TemporaryFailure(text) from error
        raise PermanentFailure(text) from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise TemporaryFailure(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from error


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        return error.read(500).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _write_to_outbox(payload: dict[str, Any]) -> None:
    outbox = Path(current_app.config["OUTBOX_DIR"])
    outbox.mkdir(parents=True, exist_ok=True)
    ref = payload.get("ref") or f"{payload['type']}-{payload['to']}"
    name = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in ref.strip("<>"))
    path = outbox / f"{name}.{payload['type']}.json"  # a resend overwrites, never duplicates
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
