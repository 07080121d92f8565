"""The programme's engagement settings: SLA days per status, outcome-survey rounds and survey indicators —
parsing, defaults per track, the operation's own checks, the form and the programme page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import ValidationFailed
from crm.extensions import db
from crm.programmes import operations
from crm.programmes.models import Programme, Track
from tests.conftest import login, post_form
from tests.factories import make_institution, make_programme, make_programme_year, make_user

ALL_DEFAULTS = {
    "pending_agreement": 30,
    "agreed": 14,
    "final_report": 30,
    "final_check": 30,
    "settlement": 30,
}


@pytest.fixture
def en(app_ctx) -> Iterator[None]:
    """Messages compared in English (the request default is Korean)."""
    with force_locale("en"):
        yield


def _messages(errors: list) -> list[str]:
    return [str(e) for e in errors]


# --- SLA -------------------------------------------------------------------------------------------------


def test_sla_lines_are_parsed_into_lifecycle_order(en):
    text = "final_check | 20\n\nPending_Agreement|30\n  agreed |  7 \nsettlement | 365\nin_progress | 1\n"
    sla, errors = operations.parse_sla_days(text)
    assert errors == []
    assert sla == {
        "pending_agreement": 30,
        "agreed": 7,
        "in_progress": 1,
        "final_check": 20,
        "settlement": 365,
    }
    assert list(sla) == ["pending_agreement", "agreed", "in_progress", "final_check", "settlement"]
    assert operations.format_sla_days(sla) == (
        "pending_agreement | 30\nagreed | 7\nin_progress | 1\nfinal_check | 20\nsettlement | 365"
    )
    assert operations.parse_sla_days(operations.format_sla_days(sla)) == (sla, [])


def test_sla_accepts_korean_and_english_status_titles(en):
    sla, errors = operations.parse_sla_days("협약 대기 | 30\n협약대기 | 3\nFinal report | 21\n정산 | 10")
    # "협약대기" is the same status as "협약 대기": the second line is a duplicate.
    assert _messages(errors) == ["Line 2: “pending_agreement” is already used on line 1."]
    assert sla == {"pending_agreement": 30, "final_report": 21, "settlement": 10}


def test_empty_sla_text_is_an_empty_sla(en):
    assert operations.parse_sla_days("") == ({}, [])
    assert operations.parse_sla_days(" \n\n") == ({}, [])
    assert operations.format_sla_days({}) == "" and operations.format_sla_days(None) == ""


def test_every_bad_sla_line_is_reported_with_its_line_number(en):
    text = (
        "agreed | 14\n"  # 1 fine
        "agreed 14\n"  # 2 one part
        "agreed | 14 | days\n"  # 3 three parts
        "signed | 10\n"  # 4 unknown status
        "closed | 10\n"  # 5 final statuses
        "follow_up | 10\n"
        "cancelled | 10\n"
        "terminated | 10\n"
        "final_report | 0\n"  # 9 out of range
        "final_check | 366\n"
        "settlement | soon\n"  # 11 not a number
        "in_progress | 1.5\n"
        "agreed | 20\n"  # 13 twice
        "nonsense | -3\n"  # 14 two errors on one line
    )
    sla, errors = operations.parse_sla_days(text)
    messages = _messages(errors)
    assert sla == {"agreed": 14}
    assert messages == [
        "Line 2: write two parts: status | days.",
        "Line 3: write two parts: status | days.",
        "Line 4: “signed” is not an engagement status; use one of pending_agreement, agreed, in_progress, "
        "final_report, final_check, settlement.",
        *(
            f"Line {n}: “{status}” is a final status; "
            "an SLA applies only to statuses an engagement moves on from."
            for n, status in [(5, "closed"), (6, "follow_up"), (7, "cancelled"), (8, "terminated")]
        ),
        "Line 9: the days “0” must be a whole number from 1 to 365.",
        "Line 10: the days “366” must be a whole number from 1 to 365.",
        "Line 11: the days “soon” must be a whole number from 1 to 365.",
        "Line 12: the days “1.5” must be a whole number from 1 to 365.",
        "Line 13: “agreed” is already used on line 1.",
        "Line 14: “nonsense” is not an engagement status; use one of pending_agreement, agreed, in_progress, "
        "final_report, final_check, settlement.",
        "Line 14: the days “-3” must be a whole number from 1 to 365.",
    ]


def test_sla_boundaries_1_and_365_days_are_allowed(en):
    assert operations.parse_sla_days("agreed | 1\nfinal_check | 365") == (
        {"agreed": 1, "final_check": 365},
        [],
    )


# --- Survey indicators -----------------------------------------------------------------------------------


def test_survey_indicators_are_parsed_one_per_line(en):
    indicators, errors = operations.parse_survey_indicators("매출\n\n  고용  \nExport revenue\n")
    assert errors == [] and indicators == ["매출", "고용", "Export revenue"]
    assert operations.format_survey_indicators(indicators) == "매출\n고용\nExport revenue"
    assert operations.parse_survey_indicators("") == ([], [])


def test_bad_survey_indicators_are_reported(en):
    long_name = "가" * 101
    indicators, errors = operations.parse_survey_indicators(
        f"매출\n{long_name}\nExports\n매출\nEXPORTS\n{'나' * 100}"
    )
    assert indicators == ["매출", "Exports", "나" * 100]
    assert _messages(errors) == [
        "Line 2: an indicator may have at most 100 characters (this one has 101).",
        "Line 4: “매출” is already used on line 1.",
        "Line 5: “EXPORTS” is already used on line 3.",
    ]


def test_at_most_20_survey_indicators(en):
    twenty = "\n".join(f"지표{n}" for n in range(20))
    assert operations.parse_survey_indicators(twenty) == ([f"지표{n}" for n in range(20)], [])
    _indicators, errors = operations.parse_survey_indicators(twenty + "\n지표20")
    assert _messages(errors) == ["Enter at most 20 indicators (now 21)."]


# --- The operation ---------------------------------------------------------------------------------------


def _data(institution_id: int, **overrides) -> operations.ProgrammeData:
    values = {
        "name": "AI 솔루션 도입",
        "institution_id": institution_id,
        "track": Track.adoption,
        "target": 20,
    }
    return operations.ProgrammeData(**{**values, **overrides})


@pytest.fixture
def setting(en):
    admin = make_user(Role.admin)
    year = make_programme_year()
    return admin, year, make_institution(year.consortium)


@pytest.mark.parametrize("track", [Track.adoption, Track.validation, Track.incubation])
def test_tracks_with_money_and_results_get_sla_and_surveys_by_default(setting, track):
    admin, year, institution = setting
    programme = operations.create_programme(year, _data(institution.id, track=track), admin)
    assert programme.sla_days == ALL_DEFAULTS
    assert programme.survey_rounds == 3
    assert programme.survey_indicators == ["매출", "고용"]


@pytest.mark.parametrize("track", [Track.diagnosis, Track.consulting, Track.training])
def test_tracks_without_settlement_get_no_settlement_sla_and_no_surveys(setting, track):
    admin, year, institution = setting
    programme = operations.create_programme(year, _data(institution.id, track=track), admin)
    assert programme.sla_days == {k: v for k, v in ALL_DEFAULTS.items() if k != "settlement"}
    assert programme.survey_rounds == 0 and programme.survey_indicators == []


def test_infrastructure_keeps_settlement_sla_but_has_no_surveys(setting):
    admin, year, institution = setting
    programme = operations.create_programme(year, _data(institution.id, track=Track.infrastructure), admin)
    assert programme.sla_days == ALL_DEFAULTS and programme.survey_rounds == 0


def test_given_settings_are_stored_and_audited(setting):
    admin, year, institution = setting
    programme = operations.create_programme(
        year,
        _data(
            institution.id,
            sla_days={"agreed": 7},
            survey_rounds=5,
            survey_indicators=["매출", "수출액"],
        ),
        admin,
    )
    assert (programme.sla_days, programme.survey_rounds) == ({"agreed": 7}, 5)
    assert programme.survey_indicators == ["매출", "수출액"]
    event = db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "programme.create", AuditEvent.object_id == programme.id
        )
    )
    assert event.changes["sla_days"] == {"agreed": 7} and event.changes["survey_rounds"] == 5


@pytest.mark.parametrize(("rounds", "ok"), [(0, True), (10, True), (11, False), (-1, False)])
def test_survey_rounds_are_0_to_10(setting, rounds, ok):
    admin, year, institution = setting
    data = _data(institution.id, survey_rounds=rounds)
    if ok:
        assert operations.create_programme(year, data, admin).survey_rounds == rounds
    else:
        with pytest.raises(ValidationFailed) as refused:
            operations.create_programme(year, data, admin)
        assert _messages(refused.value.fields["survey_rounds"]) == ["Enter a number of rounds from 0 to 10."]


def test_operation_checks_the_sla_whoever_calls_it(setting):
    admin, year, institution = setting
    data = _data(institution.id, sla_days={"closed": 10, "agreed": 0, "final_check": True})
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, data, admin)
    assert _messages(refused.value.fields["sla_days"]) == [
        "“closed” is not a status an SLA can apply to; use one of pending_agreement, agreed, in_progress, "
        "final_report, final_check, settlement.",
        "The SLA for agreed must be a whole number of days from 1 to 365.",
        "The SLA for final_check must be a whole number of days from 1 to 365.",
    ]


def test_no_settlement_sla_for_tracks_without_settlement(setting):
    admin, year, institution = setting
    data = _data(institution.id, track=Track.consulting, sla_days={"settlement": 30})
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, data, admin)
    assert _messages(refused.value.fields["sla_days"]) == [
        "Consulting programmes have no settlement step, so they cannot have an SLA for it."
    ]


def test_survey_rounds_need_an_indicator(setting):
    admin, year, institution = setting
    # Consulting has no default indicators, so rounds without any are refused ...
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(
            year, _data(institution.id, track=Track.consulting, survey_rounds=2), admin
        )
    assert _messages(refused.value.fields["survey_indicators"]) == [
        "Name at least one indicator for the outcome-survey rounds to ask about."
    ]
    # ... while no rounds need none.
    programme = operations.create_programme(
        year, _data(institution.id, survey_rounds=0, survey_indicators=[]), admin
    )
    assert programme.survey_indicators == []


def test_operation_checks_the_indicators_whoever_calls_it(setting):
    admin, year, institution = setting
    data = _data(
        institution.id, survey_indicators=["매출", "", "매출", "x" * 101, *[f"k{n}" for n in range(17)]]
    )
    with pytest.raises(ValidationFailed) as refused:
        operations.create_programme(year, data, admin)
    assert _messages(refused.value.fields["survey_indicators"]) == [
        "Line 2: the indicator is missing.",
        "Line 3: “매출” is already used on line 1.",
        "Line 4: an indicator may have at most 100 characters (this one has 101).",
        "Enter at most 20 indicators (now 21).",
    ]


def test_update_changes_the_settings_and_audits_only_what_changed(setting):
    admin, year, institution = setting
    programme = operations.create_programme(year, _data(institution.id), admin)
    operations.update_programme(
        programme, _data(institution.id, sla_days={**ALL_DEFAULTS, "agreed": 21}, survey_rounds=3), admin
    )
    assert programme.sla_days["agreed"] == 21
    event = db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "programme.update", AuditEvent.object_id == programme.id
        )
    )
    assert event.changes == {"sla_days": [ALL_DEFAULTS, {**ALL_DEFAULTS, "agreed": 21}]}


# --- Form and pages --------------------------------------------------------------------------------------


def _form(institution_id: int, **overrides: str) -> dict[str, str]:
    return {
        "name": "AI 솔루션 도입·보급",
        "institution_id": str(institution_id),
        "track": "adoption",
        "target": "40",
        "budget_gov_krw": "600,000,000",
        "budget_local_krw": "300,000,000",
        "budget_self_krw": "100,000,000",
        "exclusivity_years": "3",
        "unit": "",
        "counting_point": "",
        **overrides,
    }


def test_new_programme_form_saves_the_settings(client_en):
    manager = make_user(Role.consortium_manager)
    year = make_programme_year(manager.consortium)
    institution = make_institution(year.consortium)
    login(client_en, manager.email)
    page = client_en.get(f"/programmes/years/{year.id}/programmes/new").get_data(as_text=True)
    assert "SLA (days per status)" in page and "Outcome-survey rounds" in page and "Survey indicators" in page
    response = post_form(
        client_en,
        f"/programmes/years/{year.id}/programmes/new",
        _form(
            institution.id,
            sla_days="pending_agreement | 20\nFinal check | 10",
            survey_rounds="5",
            survey_indicators="매출\n고용\n수출액",
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    programme = db.session.scalar(sa.select(Programme).where(Programme.programme_year_id == year.id))
    assert programme.sla_days == {"pending_agreement": 20, "final_check": 10}
    assert programme.survey_rounds == 5 and programme.survey_indicators == ["매출", "고용", "수출액"]


def test_left_empty_the_form_gives_the_tracks_defaults(client_en):
    manager = make_user(Role.consortium_manager)
    year = make_programme_year(manager.consortium)
    institution = make_institution(year.consortium)
    login(client_en, manager.email)
    response = post_form(
        client_en,
        f"/programmes/years/{year.id}/programmes/new",
        _form(institution.id, track="diagnosis", sla_days="", survey_rounds="", survey_indicators=""),
    )
    assert response.status_code == 302
    programme = db.session.scalar(sa.select(Programme).where(Programme.programme_year_id == year.id))
    assert programme.sla_days == {k: v for k, v in ALL_DEFAULTS.items() if k != "settlement"}
    assert (programme.survey_rounds, programme.survey_indicators) == (0, [])


def test_form_shows_every_error_and_saves_nothing(client_en):
    admin = make_user(Role.admin)
    programme = make_programme(sla_days={"agreed": 14}, survey_rounds=3, survey_indicators=["매출"])
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/{programme.id}/edit",
        _form(
            programme.institution_id,
            sla_days="agreed | 14\nclosed | 5\nagreed | 400",
            survey_rounds="11",
            survey_indicators="매출\n매출",
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 2: “closed” is a final status" in html
    assert "Line 3: “agreed” is already used on line 1." in html
    assert "Line 3: the days “400” must be a whole number from 1 to 365." in html
    assert "Enter a number of rounds from 0 to 10." in html
    assert "Line 2: “매출” is already used on line 1." in html
    assert "agreed | 400</textarea>" in html  # what was typed stays
    db.session.expire_all()
    saved = db.session.get(Programme, programme.id)
    assert (saved.sla_days, saved.survey_rounds, saved.survey_indicators) == ({"agreed": 14}, 3, ["매출"])


def test_settlement_sla_on_a_consulting_programme_is_refused_on_the_form(client_en):
    admin = make_user(Role.admin)
    programme = make_programme(track=Track.consulting)
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/{programme.id}/edit",
        _form(programme.institution_id, track="consulting", sla_days="settlement | 30", survey_rounds="0"),
    )
    assert response.status_code == 422
    assert "Consulting programmes have no settlement step" in response.get_data(as_text=True)


def test_edit_shows_the_settings_back_and_the_programme_page_lists_them(client_en):
    admin = make_user(Role.admin)
    programme = make_programme()
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/programmes/{programme.id}/edit",
        _form(
            programme.institution_id,
            sla_days="협약 대기 | 45\nagreed | 10",
            survey_rounds="2",
            survey_indicators="매출\n고용",
        ),
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Programme, programme.id).sla_days == {"pending_agreement": 45, "agreed": 10}
    edit = client_en.get(f"/programmes/{programme.id}/edit").get_data(as_text=True)
    assert "pending_agreement | 45\nagreed | 10</textarea>" in edit
    assert "매출\n고용</textarea>" in edit
    assert re.search(r'<input[^>]*name="survey_rounds"[^>]*value="2"', edit)
    page = client_en.get(f"/programmes/{programme.id}").get_data(as_text=True)
    assert "Awaiting agreement: 45 · Agreed: 10" in page
    assert "<dt>Outcome-survey rounds</dt><dd>2</dd>" in page
    assert "<dt>Survey indicators</dt><dd>매출, 고용</dd>" in page


def test_a_form_without_the_new_fields_keeps_the_settings(client_en):
    admin = make_user(Role.admin)
    programme = make_programme(sla_days={"agreed": 9}, survey_rounds=1, survey_indicators=["고용"])
    login(client_en, admin.email)
    response = post_form(client_en, f"/programmes/{programme.id}/edit", _form(programme.institution_id))
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Programme, programme.id)
    assert (saved.sla_days, saved.survey_rounds, saved.survey_indicators) == ({"agreed": 9}, 1, ["고용"])
