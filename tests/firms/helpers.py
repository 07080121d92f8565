from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.firms.models import Firm


def firm_form(**changes: Any) -> dict[str, Any]:
    """A complete, valid registration form as a browser sends it."""
    values = {
        "brn": "124-81-00998",
        "corp_no": "110111-0062432",
        "name": "(주)울산스마트팩토리",
        "ceo_name": "김대표",
        "founded_on": "2015-03-02",
        "address": "울산광역시 남구 삼산로 100",
        "sido_code": "31",
        "sigungu_code": "31140",
        "ksic_code": "26110",
        "ksic_revision": "11",
        "employees": "42",
        "sme_certificate_expires_on": "2027-03-31",
        "business_status": "active",
        "solutions_offered": "",
    }
    values.update(changes)
    return values


def firm_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Firm)) or 0
