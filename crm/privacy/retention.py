"""How long personal records are kept (개인정보 보유기간). The models call these when a row is written, so
every record carries its own `retention_until` and the nightly purge only compares dates.

Rules (documented in the README):
- Contact: three years from the KST date of its privacy consent (개인정보 수집·이용 동의); without a consent,
  three years from the day the record was written or the consent withdrawn. Changing the consent restarts it.
- TrainingRegistration: three years from the KST date of the registration (attendance evidence for the
  programme's settlement); after that the person's name, e-mail and phone are anonymised, the row stays so
  attendance counts do not change.
"""

from __future__ import annotations

from datetime import date, datetime

from crm.core.time import today_kst

RETENTION_YEARS = 3


def years_after(day: date, years: int = RETENTION_YEARS) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → 28 February
        return day.replace(year=day.year + years, day=28)


def contact_retention_until(consent_privacy_at: datetime | None, today: date | None = None) -> date:
    base = today_kst(consent_privacy_at) if consent_privacy_at is not None else (today or today_kst())
    return years_after(base)


def registration_retention_until(today: date | None = None) -> date:
    return years_after(today or today_kst())
