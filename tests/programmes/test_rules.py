"""Dates in order, positive targets, text-entered lists, KST call times and the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import ValidationFailed
from crm.extensions import db
from crm.programmes import operations
from crm.programmes.models import Call, CountingPoint, Programme, ProgrammeYear, TargetUnit, Track
from tests.conftest import login, post_form
from tests.factories import (
    make_call,
    make_consortium,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)


def test_programme_year_must_end_after_it_starts(app_ctx):
    admin = make_user(Role.admin)
    data = operations.ProgrammeYearData(ordinal=1, starts_on=date(2026, 1, 1), ends_on=date(2026, 1, 1))
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme_year(make_consortium(), data, admin)
    assert list(refused.value.fields) == ["ends_on"]


def test_programme_year_form_shows_dates_out_of_order(client_en):
    admin = make_user(Role.admin)
    consortium = make_consortium()
    login(client_en, admin.email)
    response = post_form(
        client_en,
        "/programmes/years/new",
        {"consortium_id": consortium.id, "ordinal": "1", "starts_on": "2026-10-01", "ends_on": "2026-03-31"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The end date must be after the start date." in html
    assert 'value="2026-10-01"' in html


def test_ordinal_is_unique_per_consortium(app_ctx):
    admin = make_user(Role.admin)
    year = make_programme_year(ordinal=1)
    data = operations.ProgrammeYearData(ordinal=1, starts_on=date(2027, 1, 1), ends_on=date(2027, 12, 31))
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme_year(year.consortium, data, admin)
    assert list(refused.value.fields) == ["ordinal"]
    # Another consortium may have its own year 1.
    assert operations.create_programme_year(make_consortium(), data, admin).ordinal == 1


def _data(institution_id: int, **overrides) -> operations.ProgrammeData:
    values = {"name": "AI 교육", "institution_id": institution_id, "track": Track.training, "target": 200}
    return operations.ProgrammeData(**{**values, **overrides})


@pytest.mark.parametrize("target", [0, -5, None])
def test_target_must_be_positive(app_ctx, target):
    admin = make_user(Role.admin)
    year = make_programme_year()
    institution = make_institution(year.consortium)
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, _data(institution.id, target=target), admin)
    assert "target" in refused.value.fields


def test_target_zero_is_refused_on_the_form(client_en):
    admin = make_user(Role.admin)
    year = make_programme_year()
    institution = make_institution(year.consortium)
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/years/{year.id}/programmes/new",
        {"name": "AI 교육", "institution_id": institution.id, "track": "training", "target": "0"},
    )
    assert response.status_code == 422
    assert "The target must be a whole number above 0." in response.get_data(as_text=True)


def test_unit_and_counting_point_default_from_the_track(app_ctx):
    admin = make_user(Role.admin)
    year = make_programme_year()
    institution = make_institution(year.consortium)
    training = operations.create_programme(year, _data(institution.id), admin)
    assert training.unit is TargetUnit.people and training.counting_point is CountingPoint.completed
    adoption = operations.create_programme(year, _data(institution.id, track=Track.adoption), admin)
    assert adoption.unit is TargetUnit.firms and adoption.counting_point is CountingPoint.agreed
    chosen = operations.create_programme(
        year, _data(institution.id, counting_point=CountingPoint.selected, unit=TargetUnit.firms), admin
    )
    assert chosen.unit is TargetUnit.firms and chosen.counting_point is CountingPoint.selected


def test_institution_must_belong_to_the_years_consortium(app_ctx):
    admin = make_user(Role.admin)
    year = make_programme_year()
    stranger = make_institution()  # another consortium
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, _data(stranger.id), admin)
    assert list(refused.value.fields) == ["institution_id"]


@pytest.mark.parametrize(("years", "ok"), [(0, True), (10, True), (11, False), (-1, False)])
def test_exclusivity_window_is_0_to_10_years(app_ctx, years, ok):
    admin = make_user(Role.admin)
    year = make_programme_year()
    institution = make_institution(year.consortium)
    if ok:
        assert operations.create_programme(year, _data(institution.id, exclusivity_years=years), admin)
    else:
        with pytest.raises(ValidationFailed):
            operations.create_programme(year, _data(institution.id, exclusivity_years=years), admin)


def test_per_firm_cap_must_be_positive_when_given(app_ctx):
    admin = make_user(Role.admin)
    year = make_programme_year()
    institution = make_institution(year.consortium)
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, _data(institution.id, per_firm_cap_krw=0), admin)
    assert list(refused.value.fields) == ["per_firm_cap_krw"]


def test_ksic_prefixes_are_parsed_from_commas_and_spaces(app_ctx):
    assert operations.parse_ksic_prefixes("55, 56  681,,55\n70") == (["55", "56", "681", "70"], [])
    prefixes, errors = operations.parse_ksic_prefixes("55, J63, 123456")
    assert prefixes == ["55"]
    assert len(errors) == 2 and "J63" in str(errors[0]) and "123456" in str(errors[1])


def test_milestone_templates_are_parsed_line_by_line(app_ctx):
    text = (
        "interim_check | 중간점검 | mid | 0 | staff\n"
        "\n"
        "final_report | 완료보고서 제출 | end | -14 | firm\n"
        "outcome_survey | 성과조사 | closed | +365 | Firm\n"
    )
    templates, errors = operations.parse_milestone_templates(text)
    assert errors == []
    assert templates == [
        {"kind": "interim_check", "title": "중간점검", "anchor": "mid", "offset_days": 0, "owner": "staff"},
        {
            "kind": "final_report",
            "title": "완료보고서 제출",
            "anchor": "end",
            "offset_days": -14,
            "owner": "firm",
        },
        {
            "kind": "outcome_survey",
            "title": "성과조사",
            "anchor": "closed",
            "offset_days": 365,
            "owner": "firm",
        },
    ]
    assert operations.parse_milestone_templates(operations.format_milestone_templates(templates)) == (
        templates,
        [],
    )


def test_bad_milestone_lines_are_reported_with_their_line_numbers(app_ctx):
    text = (
        "interim_check | 중간점검 | mid | 0 | staff\n"
        "only | three | parts\n"
        "Final Report | 완료보고 | end | -14 | firm\n"
        "kickoff | 착수 | begin | 0 | staff\n"
        "kickoff | 착수 | start | soon | staff\n"
        "kickoff | 착수 | start | 3 | consultant\n"
        "kickoff |  | start | 3 | staff\n"
    )
    templates, errors = operations.parse_milestone_templates(text)
    messages = [str(e) for e in errors]
    assert [t["kind"] for t in templates] == ["interim_check"]
    assert len(messages) == 6
    for line, message in zip(range(2, 8), messages, strict=True):
        assert message.startswith((f"Line {line}:", f"{line}번째 줄:"))
    assert "begin" in messages[2] and "soon" in messages[3] and "consultant" in messages[4]


def test_milestone_errors_show_on_the_form_and_nothing_is_saved(client_en):
    manager = make_user(Role.consortium_manager)
    programme = make_programme(make_programme_year(manager.consortium))
    login(client_en, manager.email)
    response = post_form(
        client_en,
        f"/programmes/{programme.id}/edit",
        {
            "name": programme.name,
            "institution_id": programme.institution_id,
            "track": "adoption",
            "target": "50",
            "budget_gov_krw": "600,000,000",
            "budget_local_krw": "300,000,000",
            "budget_self_krw": "100,000,000",
            "exclusivity_years": "3",
            "milestone_templates": "interim_check | 중간점검 | mid | 0 | staff\nbad line",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 2: write five parts" in html
    assert "bad line</textarea>" in html
    db.session.expire_all()
    assert db.session.get(Programme, programme.id).milestone_templates == []


def test_programme_edit_stores_the_lists_and_is_audited(client_en):
    admin = make_user(Role.admin)
    programme = make_programme()
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/{programme.id}/edit",
        {
            "name": "AI 솔루션 도입·보급",
            "institution_id": programme.institution_id,
            "track": "adoption",
            "target": "60",
            "budget_gov_krw": "600,000,000",
            "budget_local_krw": "300,000,000",
            "budget_self_krw": "100,000,000",
            "per_firm_cap_krw": "50,000,000",
            "exclusivity_years": "3",
            "requires_sme_certificate": "y",
            "excluded_ksic_prefixes": "55 56",
            "review_stages": ["presentation", "document_review"],
            "milestone_templates": "interim_check | 중간점검 | mid | 0 | staff",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Programme, programme.id)
    assert saved.name == "AI 솔루션 도입·보급" and saved.target == 60
    assert saved.per_firm_cap_krw == 50_000_000 and saved.requires_sme_certificate
    assert saved.excluded_ksic_prefixes == ["55", "56"]
    assert saved.review_stages == ["document_review", "presentation"]
    assert saved.milestone_templates[0]["kind"] == "interim_check"
    event = db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "programme.update", AuditEvent.object_id == programme.id
        )
    )
    assert event.actor_id == admin.id
    assert event.changes["target"] == [50, 60]
    # The edit page shows the templates back in the same line format.
    page = client_en.get(f"/programmes/{programme.id}/edit").get_data(as_text=True)
    assert "interim_check | 중간점검 | mid | 0 | staff</textarea>" in page
    assert "50,000,000" in client_en.get(f"/programmes/{programme.id}").get_data(as_text=True)


def _call_form(**overrides: str) -> dict:
    return {
        "title": "2026년 AI 솔루션 도입 지원사업 1차 모집",
        "cohort": "2026-1차",
        "opens_at": "2026-03-02T09:00",
        "closes_at": "2026-03-20T18:00",
        "capacity": "20",
        "eligibility_text": "울산 소재 중소기업",
        "required_documents": "business_plan | 사업계획서\nsme_certificate | 중소기업확인서",
        "questions": "goal | 도입 목표 | required\nprior | 기존 지원 이력 | optional",
        **overrides,
    }


def test_call_times_entered_in_kst_are_stored_in_utc(client_en):
    manager = make_user(Role.consortium_manager)
    programme = make_programme(make_programme_year(manager.consortium))
    login(client_en, manager.email)
    response = post_form(client_en, f"/programmes/{programme.id}/calls/new", _call_form())
    assert response.status_code == 302
    call = db.session.scalar(sa.select(Call).where(Call.programme_id == programme.id))
    assert call.opens_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert call.closes_at == datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    assert call.required_documents == [
        {"kind": "business_plan", "label": "사업계획서"},
        {"kind": "sme_certificate", "label": "중소기업확인서"},
    ]
    assert call.questions[1] == {"key": "prior", "label": "기존 지원 이력", "required": False}
    assert db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "call.create", AuditEvent.object_id == call.id)
    )
    # Shown back as Korean wall-clock time when edited.
    page = client_en.get(f"/calls/{call.id}/edit").get_data(as_text=True)
    assert 'value="2026-03-02T09:00"' in page


def test_call_must_close_after_it_opens(client_en):
    admin = make_user(Role.admin)
    programme = make_programme()
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/{programme.id}/calls/new",
        _call_form(opens_at="2026-03-20T18:00", closes_at="2026-03-20T18:00"),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The closing time must be after the opening time." in html
    assert 'value="2026-03-20T18:00"' in html
    assert db.session.scalar(sa.select(Call).where(Call.programme_id == programme.id)) is None


def test_call_lists_are_checked_line_by_line(client_en):
    admin = make_user(Role.admin)
    programme = make_programme()
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/{programme.id}/calls/new",
        _call_form(
            capacity="0",
            required_documents="business_plan | 사업계획서\nBusiness Plan | 계획서\nbusiness_plan | 다시",
            questions="goal | 목표 | maybe",
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The capacity must be a whole number above 0." in html
    assert "Line 2: the kind “Business Plan” may use only a–z, 0–9 and _." in html
    assert "Line 3: “business_plan” is already used on line 1." in html
    assert "Line 1: the last part must be required or optional." in html


def test_call_page_shows_status_and_days_to_closing(client_en):
    admin = make_user(Role.admin)
    call = make_call()
    login(client_en, admin.email)
    html = client_en.get(f"/calls/{call.id}").get_data(as_text=True)
    assert "Accepting applications" in html and "D-14" in html


def test_call_status_is_derived_from_the_clock(app_ctx):
    call = make_call(open_now=False)
    assert call.status().value == "closed"
    assert call.status(call.opens_at).value == "open"
    assert call.status(datetime(2000, 1, 1, tzinfo=UTC)).value == "upcoming"


def test_manager_creates_a_year_in_its_own_consortium_and_it_is_audited(client_en):
    manager = make_user(Role.consortium_manager)
    other = make_consortium()
    login(client_en, manager.email)
    response = post_form(
        client_en,
        "/programmes/years/new",
        {
            "consortium_id": other.id,  # not a field for managers: ignored
            "ordinal": "2",
            "starts_on": "2026-10-01",
            "ends_on": "2027-09-30",
            "budget_gov_krw": "4,200,000,000",
            "budget_local_krw": "2,100,000,000",
            "budget_self_krw": "700,000,000",
        },
    )
    assert response.status_code == 302
    year = db.session.scalar(sa.select(ProgrammeYear).where(ProgrammeYear.ordinal == 2))
    assert year.consortium_id == manager.consortium_id
    event = db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "programme_year.create", AuditEvent.object_id == year.id
        )
    )
    assert event.actor_id == manager.id and event.changes["budget_gov_krw"] == 4_200_000_000
