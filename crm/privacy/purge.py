"""The nightly purge of personal records past their `retention_until` (개인정보 파기).

Idempotent: a purged contact is gone and an anonymised registration has no retention date any more, so a
second run on the same day finds nothing and writes nothing. The audit event carries counts only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.core.time import today_kst
from crm.extensions import db
from crm.firms.models import Contact
from crm.training.models import TrainingRegistration

ANONYMISED_NAME = "-"


@dataclass(frozen=True)
class PurgeResult:
    contacts_deleted: int
    registrations_anonymised: int

    @property
    def total(self) -> int:
        return self.contacts_deleted + self.registrations_anonymised


def purge_expired(today: date | None = None) -> PurgeResult:
    """Deletes contacts and anonymises training registrations whose retention ended before `today` (KST).
    Never commits; the caller does."""
    today = today or today_kst()
    contacts = db.session.scalars(
        sa.select(Contact).where(Contact.retention_until.is_not(None), Contact.retention_until < today)
    ).all()
    for contact in contacts:
        db.session.delete(contact)
    registrations = db.session.scalars(
        sa.select(TrainingRegistration).where(
            TrainingRegistration.retention_until.is_not(None), TrainingRegistration.retention_until < today
        )
    ).all()
    for registration in registrations:
        # The row stays (attendance counts, KPI evidence); the person does not. The e-mail keeps the
        # (session, e-mail) uniqueness with a placeholder that cannot receive mail.
        registration.name = ANONYMISED_NAME
        registration.email = f"purged-{registration.id}@invalid"
        registration.phone = ""
        registration.retention_until = None
    result = PurgeResult(len(contacts), len(registrations))
    db.session.flush()
    if result.total:
        db.session.add(
            AuditEvent(
                actor_id=None,
                action="privacy.purge",
                object_type="privacy",
                object_id=None,
                changes={
                    "day": today.isoformat(),
                    "contacts_deleted": result.contacts_deleted,
                    "training_registrations_anonymised": result.registrations_anonymised,
                },
            )
        )
    return result
