"""Large lists stream in batches with a constant number of queries; the file survives a round trip."""

from __future__ import annotations

from flask.testing import FlaskClient

from crm.auth.models import Role
from crm.engagements.models import EngagementStatus
from crm.exports.csvexport import BATCH_SIZE
from crm.extensions import db
from crm.firms.identifiers import brn_check_digit
from crm.firms.models import Firm
from tests.conftest import login
from tests.exports.helpers import get_csv, parse, post_reason
from tests.factories import make_engagement, make_firm, make_programme, make_user
from tests.statements import recorded_statements


def test_two_thousand_firms_stream_in_batches(client_en, app):
    rows = 2_000
    firms = []
    for i in range(rows):
        first_nine = f"7{i:08d}"
        firms.append(
            Firm(
                brn=first_nine + str(brn_check_digit(first_nine)),
                name=f"대량테스트기업 {i:04d}",
                name_initials="",
                ceo_name="홍길동",
                sido_code="31",
                sigungu_code="31140",
                employees=i,
            )
        )
    db.session.add_all(firms)
    db.session.flush()
    admin = make_user(Role.admin)
    login(client_en, admin.email)

    file = get_csv(client_en, "/firms?q=대량테스트기업&format=csv")
    assert len(file.rows) == rows
    assert file.rows[0]["Firm name"] == "대량테스트기업 0000"
    assert file.rows[-1]["Firm name"] == "대량테스트기업 1999"
    assert {row["CEO"] for row in file.rows} == {"홍*동"}
    # the header, then one chunk per batch: the rows were never all in memory at once
    assert len(file.response.response) == 1 + rows // BATCH_SIZE

    unmasked = parse(
        post_reason(client_en, "/firms?q=대량테스트기업&format=csv&personal=1", "전수 점검용 명단")
    )
    assert len(unmasked.rows) == rows and {row["CEO"] for row in unmasked.rows} == {"홍길동"}


def _engagement_csv_queries(browser: FlaskClient, count: int) -> tuple[int, int]:
    programme = make_programme(name=f"쿼리수 확인 {count}")
    coordinator = make_user(Role.coordinator, institution=programme.institution)
    for i in range(count):
        make_engagement(
            programme,
            make_firm(name=f"쿼리기업 {count}-{i}"),
            status=EngagementStatus.in_progress,
            coordinator_id=coordinator.id,
        )
    db.session.expire_all()
    login(browser, coordinator.email)
    with recorded_statements() as statements:
        file = get_csv(browser, "/engagements?format=csv")
    return len(file.rows), len(statements)


def test_engagement_export_queries_do_not_grow_with_rows(app):
    few_rows, few_queries = _engagement_csv_queries(app.test_client(), 3)
    many_rows, many_queries = _engagement_csv_queries(app.test_client(), 40)
    assert (few_rows, many_rows) == (3, 40)
    assert few_queries == many_queries
