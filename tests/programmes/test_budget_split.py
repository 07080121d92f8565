"""The funding split (국비 ≤ 60 %, 지방비 ≥ 20 % of the total) and the programme year's budget ceiling."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.auth.models import Role
from crm.core.exceptions import ValidationFailed
from crm.extensions import db
from crm.programmes import operations
from crm.programmes.models import Programme, ProgrammeYear, Track
from tests.conftest import login, post_form
from tests.factories import make_consortium, make_institution, make_programme, make_programme_year, make_user


def _year_data(gov: int, local: int, own: int, ordinal: int = 1) -> operations.ProgrammeYearData:
    return operations.ProgrammeYearData(
        ordinal=ordinal,
        starts_on=date(2025, 10, 1),
        ends_on=date(2026, 9, 30),
        budget_gov_krw=gov,
        budget_local_krw=local,
        budget_self_krw=own,
    )


def _programme_data(institution_id: int, gov: int, local: int, own: int) -> operations.ProgrammeData:
    return operations.ProgrammeData(
        name="AI 솔루션 도입",
        institution_id=institution_id,
        track=Track.adoption,
        target=50,
        budget_gov_krw=gov,
        budget_local_krw=local,
        budget_self_krw=own,
    )


@pytest.mark.parametrize(
    ("gov", "local", "own"),
    [
        (6_000, 2_000, 2_000),  # 국비 exactly 60 %, 지방비 exactly 20 %
        (5_000, 2_000, 3_000),
        (0, 0, 0),  # nothing budgeted yet
        (0, 10_000, 0),
    ],
)
def test_split_within_the_rules_is_allowed(gov, local, own):
    assert operations.funding_split_problems(gov, local, own) == {}


def test_national_share_over_60_percent_is_refused_with_the_actual_share(app_ctx):
    problems = operations.funding_split_problems(6_001, 2_000, 1_999)  # 60.01 %
    assert list(problems) == ["budget_gov_krw"]
    assert "60.01" in str(problems["budget_gov_krw"][0])


def test_local_share_under_20_percent_is_refused_with_the_actual_share(app_ctx):
    problems = operations.funding_split_problems(5_000, 1_999, 3_001)  # 19.99 %
    assert list(problems) == ["budget_local_krw"]
    assert "19.99" in str(problems["budget_local_krw"][0])


def test_both_violations_are_reported_on_their_own_fields(app_ctx):
    problems = operations.funding_split_problems(6_500, 1_000, 2_500)
    assert set(problems) == {"budget_gov_krw", "budget_local_krw"}
    assert "65.0" in str(problems["budget_gov_krw"][0])
    assert "10.0" in str(problems["budget_local_krw"][0])


def test_programme_year_operation_applies_the_split(app_ctx):
    admin = make_user(Role.admin)
    consortium = make_consortium()
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme_year(consortium, _year_data(6_001_000, 2_000_000, 1_999_000), admin)
    assert set(refused.value.fields) == {"budget_gov_krw"}
    year = operations.create_programme_year(consortium, _year_data(6_000_000, 2_000_000, 2_000_000), admin)
    assert year.id is not None and year.budget_total_krw == 10_000_000
    with pytest.raises(ValidationFailed) as refused:
        operations.update_programme_year(year, _year_data(5_000_000, 1_999_000, 3_001_000), admin)
    assert set(refused.value.fields) == {"budget_local_krw"}


def test_programme_operation_applies_the_split(app_ctx):
    admin = make_user(Role.admin)
    year = make_programme_year()
    institution = make_institution(year.consortium)
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, _programme_data(institution.id, 6_001, 2_000, 1_999), admin)
    assert set(refused.value.fields) == {"budget_gov_krw"}
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, _programme_data(institution.id, 5_000, 1_999, 3_001), admin)
    assert set(refused.value.fields) == {"budget_local_krw"}
    programme = operations.create_programme(year, _programme_data(institution.id, 6_000, 2_000, 2_000), admin)
    assert programme.budget_total_krw == 10_000
    empty = operations.create_programme(year, _programme_data(institution.id, 0, 0, 0), admin)
    assert empty.budget_total_krw == 0


def _year_form(consortium_id: int, gov: str, local: str, own: str, ordinal: str = "1") -> dict:
    return {
        "consortium_id": str(consortium_id),
        "ordinal": ordinal,
        "starts_on": "2025-10-01",
        "ends_on": "2026-09-30",
        "budget_gov_krw": gov,
        "budget_local_krw": local,
        "budget_self_krw": own,
    }


def test_year_form_shows_the_split_error_and_keeps_what_was_typed(client_en):
    admin = make_user(Role.admin)
    consortium = make_consortium()
    login(client_en, admin.email)
    response = post_form(
        client_en, "/programmes/years/new", _year_form(consortium.id, "6,001,000", "2,000,000", "1,999,000")
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "National funds (국비) may be at most 60% of the total (now 60.01%)." in html
    assert 'value="6,001,000"' in html and 'value="1,999,000"' in html
    assert (
        db.session.scalar(sa.select(ProgrammeYear).where(ProgrammeYear.consortium_id == consortium.id))
        is None
    )

    response = post_form(
        client_en, "/programmes/years/new", _year_form(consortium.id, "5,000,000", "1,999,000", "3,001,000")
    )
    assert response.status_code == 422
    assert "Local funds (지방비) must be at least 20% of the total (now 19.99%)." in response.get_data(
        as_text=True
    )


def test_year_form_accepts_exactly_60_and_20_percent(client_en):
    admin = make_user(Role.admin)
    consortium = make_consortium()
    login(client_en, admin.email)
    response = post_form(
        client_en, "/programmes/years/new", _year_form(consortium.id, "6,000,000", "2,000,000", "2,000,000")
    )
    assert response.status_code == 302
    year = db.session.scalar(sa.select(ProgrammeYear).where(ProgrammeYear.consortium_id == consortium.id))
    assert (year.budget_gov_krw, year.budget_local_krw, year.budget_self_krw) == (
        6_000_000,
        2_000_000,
        2_000_000,
    )


def test_year_form_accepts_an_empty_budget(client_en):
    admin = make_user(Role.admin)
    consortium = make_consortium()
    login(client_en, admin.email)
    response = post_form(client_en, "/programmes/years/new", _year_form(consortium.id, "", "0", ""))
    assert response.status_code == 302
    year = db.session.scalar(sa.select(ProgrammeYear).where(ProgrammeYear.consortium_id == consortium.id))
    assert year.budget_total_krw == 0


def _programme_form(institution_id: int, **overrides: str) -> dict:
    return {
        "name": "맞춤형 컨설팅",
        "institution_id": str(institution_id),
        "track": "consulting",
        "target": "30",
        "unit": "",
        "counting_point": "",
        "budget_gov_krw": "600,000,000",
        "budget_local_krw": "300,000,000",
        "budget_self_krw": "100,000,000",
        "per_firm_cap_krw": "",
        "exclusivity_years": "3",
        "excluded_ksic_prefixes": "",
        "milestone_templates": "",
        **overrides,
    }


def test_programme_form_shows_the_split_error_and_keeps_what_was_typed(client_en):
    manager = make_user(Role.consortium_manager)
    year = make_programme_year(manager.consortium)
    institution = make_institution(manager.consortium)
    login(client_en, manager.email)
    url = f"/programmes/years/{year.id}/programmes/new"
    response = post_form(
        client_en,
        url,
        _programme_form(
            institution.id,
            budget_gov_krw="650,000,000",
            budget_local_krw="250,000,000",
            excluded_ksic_prefixes="55, 56",
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "(now 65.0%)" in html
    assert 'value="650,000,000"' in html and 'value="55, 56"' in html and 'value="맞춤형 컨설팅"' in html
    assert db.session.scalar(sa.select(Programme).where(Programme.programme_year_id == year.id)) is None


def test_programme_budgets_may_not_exceed_the_years_budget_per_source(app_ctx):
    admin = make_user(Role.admin)
    year = make_programme_year(
        budget_gov_krw=6_000_000_000, budget_local_krw=3_000_000_000, budget_self_krw=1_000_000_000
    )
    institution = make_institution(year.consortium)
    make_programme(
        year,
        institution,
        budget_gov_krw=3_000_000_000,
        budget_local_krw=500_000_000,
        budget_self_krw=500_000_000,
    )
    # Left: 3,000,000,000 국비, 2,500,000,000 지방비, 500,000,000 자부담.
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(
            year, _programme_data(institution.id, 3_100_000_000, 2_500_000_000, 0), admin
        )
    assert list(refused.value.fields) == ["budget_gov_krw"]
    message = str(refused.value.fields["budget_gov_krw"][0])
    assert "3,000,000,000" in message and "국비" in message

    # What is left exactly is fine.
    programme = operations.create_programme(
        year, _programme_data(institution.id, 3_000_000_000, 2_500_000_000, 500_000_000), admin
    )
    # Editing a programme does not count its own old budget against it.
    operations.update_programme(
        programme, _programme_data(institution.id, 2_400_000_000, 1_500_000_000, 100_000_000), admin
    )


def test_programme_year_budget_cannot_drop_below_what_its_programmes_hold(app_ctx):
    admin = make_user(Role.admin)
    year = make_programme_year(ordinal=1)
    make_programme(
        year, budget_gov_krw=600_000_000, budget_local_krw=300_000_000, budget_self_krw=100_000_000
    )
    with pytest.raises(ValidationFailed) as refused:
        operations.update_programme_year(year, _year_data(500_000_000, 400_000_000, 100_000_000), admin)
    assert list(refused.value.fields) == ["budget_gov_krw"]
    assert "600,000,000" in str(refused.value.fields["budget_gov_krw"][0])


def test_over_commitment_is_shown_on_the_programme_form(client_en):
    admin = make_user(Role.admin)
    year = make_programme_year(budget_gov_krw=600, budget_local_krw=300, budget_self_krw=100)
    institution = make_institution(year.consortium)
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/years/{year.id}/programmes/new",
        _programme_form(
            institution.id, budget_gov_krw="1,200", budget_local_krw="600", budget_self_krw="200"
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "600 won of national funds (국비) remain" in html
    assert "300 won of local funds (지방비) remain" in html
