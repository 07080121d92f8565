"""The pipeline board: columns per track, counts, who sees what, days in status in KST, the SLA flag, the
order of cards, the stuck-only filter, the page, and the stuck list across programmes."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from crm.auth.models import Role
from crm.core.time import kst_to_utc, today_kst
from crm.demo.pipeline import seed_pipeline
from crm.engagements import pipeline
from crm.engagements.models import EngagementStatus as S
from crm.engagements.pipeline import pipeline_board, stuck_engagements
from crm.programmes.models import Track
from tests.conftest import login
from tests.factories import (
    make_consortium,
    make_engagement,
    make_engagement_history,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)

TODAY = date(2026, 3, 12)
SLA = {"pending_agreement": 30, "agreed": 14, "final_report": 30, "final_check": 30, "settlement": 30}


def _changed(days_ago: int, today: date = TODAY, at: time = time(10, 0)) -> datetime:
    """A status change `days_ago` Korean calendar days before `today`, at `at` KST."""
    return kst_to_utc(today - timedelta(days=days_ago), at)


def _engagement(programme, status: S = S.agreed, days_ago: int = 0, name: str | None = None, **kw):
    firm = make_firm(programme.programme_year.consortium, **({"name": name} if name else {}))
    return make_engagement(programme, firm, status=status, status_changed_at=_changed(days_ago), **kw)


@pytest.fixture
def world(app):
    consortium = make_consortium()
    year = make_programme_year(consortium)
    institution = make_institution(consortium)
    programme = make_programme(year, institution, track=Track.adoption, sla_days=dict(SLA))
    return {
        "consortium": consortium,
        "year": year,
        "institution": institution,
        "programme": programme,
        "admin": make_user(Role.admin),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "coordinator": make_user(Role.coordinator, institution=institution),
    }


def _column(board, status: S):
    return next(column for column in board.columns if column.status is status)


# --- Columns and counts ------------------------------------------------------------------------------------


ALL_COLUMNS = [
    S.pending_agreement,
    S.agreed,
    S.in_progress,
    S.final_report,
    S.final_check,
    S.settlement,
    S.closed,
    S.follow_up,
    S.cancelled,
    S.terminated,
]


@pytest.mark.parametrize(
    ("track", "settlement"),
    [
        (Track.adoption, True),
        (Track.validation, True),
        (Track.incubation, True),
        (Track.infrastructure, True),
        (Track.diagnosis, False),
        (Track.consulting, False),
        (Track.training, False),
    ],
)
def test_columns_follow_the_lifecycle_and_skip_settlement_for_tracks_without_money(world, track, settlement):
    programme = make_programme(world["year"], world["institution"], track=track)
    board = pipeline_board(programme, world["admin"], today=TODAY)
    expected = ALL_COLUMNS if settlement else [s for s in ALL_COLUMNS if s is not S.settlement]
    assert [column.status for column in board.columns] == expected


def test_counts_per_status_only_of_this_programme(world):
    programme = world["programme"]
    for status, n in [(S.pending_agreement, 3), (S.agreed, 1), (S.closed, 2), (S.terminated, 1)]:
        for _ in range(n):
            _engagement(programme, status)
    other = make_programme(world["year"], world["institution"])
    _engagement(other, S.agreed)
    board = pipeline_board(programme, world["admin"], today=TODAY)
    counts = {column.status: column.count for column in board.columns}
    assert counts == {
        **dict.fromkeys(ALL_COLUMNS, 0),
        S.pending_agreement: 3,
        S.agreed: 1,
        S.closed: 2,
        S.terminated: 1,
    }
    assert board.total == 7
    assert [len(column.cards) for column in board.columns] == list(counts.values())


def test_an_engagement_in_settlement_of_a_track_without_it_still_shows(world):
    programme = make_programme(world["year"], world["institution"], track=Track.consulting)
    _engagement(programme, S.settlement)
    board = pipeline_board(programme, world["admin"], today=TODAY)
    assert _column(board, S.settlement).count == 1


# --- Visibility --------------------------------------------------------------------------------------------


def test_a_coordinator_sees_only_its_institutions_engagements(world):
    programme = world["programme"]
    _engagement(programme, S.agreed, name="(주)우리기관기업")
    neighbour = make_programme(world["year"], make_institution(world["consortium"]))
    _engagement(neighbour, S.agreed, name="(주)옆기관기업")

    mine = pipeline_board(programme, world["coordinator"], today=TODAY)
    assert _column(mine, S.agreed).count == 1
    assert [card.firm_name for card in _column(mine, S.agreed).cards] == ["(주)우리기관기업"]
    # The neighbour's programme is visible to the whole consortium, its engagements are not.
    theirs = pipeline_board(neighbour, world["coordinator"], today=TODAY)
    assert theirs.total == 0 and all(not column.cards for column in theirs.columns)
    assert pipeline_board(neighbour, world["manager"], today=TODAY).total == 1


def test_board_page_of_an_invisible_programme_is_404(client, world):
    elsewhere = make_programme()  # another consortium
    _engagement(elsewhere, S.agreed)
    for user in (world["coordinator"], world["manager"]):
        browser = client.application.test_client()
        login(browser, user.email)
        assert browser.get(f"/programmes/{elsewhere.id}/pipeline").status_code == 404
        assert browser.get(f"/programmes/{world['programme'].id}/pipeline").status_code == 200


def test_the_neighbours_board_page_shows_no_cards_to_a_coordinator(client_en, world):
    neighbour = make_programme(world["year"], make_institution(world["consortium"]))
    engagement = _engagement(neighbour, S.agreed, name="(주)옆기관기업")
    login(client_en, world["coordinator"].email)
    response = client_en.get(f"/programmes/{neighbour.id}/pipeline")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "(주)옆기관기업" not in html and f"/engagements/{engagement.id}" not in html


@pytest.mark.parametrize("role", [Role.national_viewer, Role.evaluator, Role.firm_user])
def test_roles_without_case_work_may_not_open_the_board(client, world, role):
    login(client, make_user(role).email)
    assert client.get(f"/programmes/{world['programme'].id}/pipeline").status_code == 403


# --- Days in status and the SLA flag -----------------------------------------------------------------------


def test_days_in_status_count_korean_calendar_days(world):
    programme = world["programme"]
    # 2026-03-01 15:30 UTC is 2026-03-02 00:30 in Seoul: 10 days before 2026-03-12, not 11.
    after_midnight = make_engagement(
        programme, status=S.in_progress, status_changed_at=datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    )
    # 2026-03-01 14:59 UTC is still 2026-03-01 23:59 in Seoul: 11 days.
    before_midnight = make_engagement(
        programme, status=S.in_progress, status_changed_at=datetime(2026, 3, 1, 14, 59, tzinfo=UTC)
    )
    board = pipeline_board(programme, world["admin"], today=date(2026, 3, 12))
    days = {card.engagement_id: card.days_in_status for card in _column(board, S.in_progress).cards}
    assert days == {after_midnight.id: 10, before_midnight.id: 11}


def test_sla_flag_at_exactly_the_sla_is_not_stuck_and_one_day_more_is(world):
    programme = world["programme"]  # agreed: 14 days
    on_time = _engagement(programme, S.agreed, days_ago=14, name="(주)기한당일")
    late = _engagement(programme, S.agreed, days_ago=15, name="(주)하루초과")
    fresh = _engagement(programme, S.agreed, days_ago=0, name="(주)오늘협약")
    board = pipeline_board(programme, world["admin"], today=TODAY)
    column = _column(board, S.agreed)
    cards = {card.engagement_id: card for card in column.cards}
    assert (cards[on_time.id].days_in_status, cards[on_time.id].stuck) == (14, False)
    assert (cards[late.id].days_in_status, cards[late.id].stuck) == (15, True)
    assert cards[late.id].days_over == 1
    assert cards[fresh.id].stuck is False
    # The count query's SQL threshold agrees with the cards.
    assert (column.sla_days, column.count, column.stuck_count, board.stuck_total) == (14, 3, 1, 1)


def test_sla_boundary_is_kst_midnight(world):
    programme = world["programme"]  # agreed: 14 days; today 2026-03-12, so stuck if changed before 02-26 KST
    last_on_time = make_engagement(
        programme, status=S.agreed, status_changed_at=kst_to_utc(date(2026, 2, 26), time(0, 0))
    )
    first_late = make_engagement(
        programme, status=S.agreed, status_changed_at=kst_to_utc(date(2026, 2, 25), time(23, 59, 59))
    )
    board = pipeline_board(programme, world["admin"], today=TODAY)
    cards = {card.engagement_id: card for card in _column(board, S.agreed).cards}
    assert cards[last_on_time.id].stuck is False and cards[first_late.id].stuck is True
    assert _column(board, S.agreed).stuck_count == 1


def test_statuses_without_an_sla_are_never_stuck(world):
    programme = world["programme"]  # no SLA for in_progress; final statuses never have one
    for status in (S.in_progress, S.closed, S.follow_up, S.cancelled, S.terminated):
        _engagement(programme, status, days_ago=400)
    board = pipeline_board(programme, world["admin"], today=TODAY)
    assert board.stuck_total == 0
    assert all(not card.stuck for column in board.columns for card in column.cards)
    assert _column(board, S.in_progress).sla_days is None


def test_each_programme_has_its_own_sla(world):
    strict = make_programme(world["year"], world["institution"], sla_days={"agreed": 3})
    relaxed = make_programme(world["year"], world["institution"], sla_days={})
    _engagement(strict, S.agreed, days_ago=5)
    _engagement(relaxed, S.agreed, days_ago=5)
    assert pipeline_board(strict, world["admin"], today=TODAY).stuck_total == 1
    assert pipeline_board(relaxed, world["admin"], today=TODAY).stuck_total == 0


def test_stuck_cards_first_then_longest_in_status(world):
    programme = world["programme"]  # pending_agreement: 30 days
    newest = _engagement(programme, S.pending_agreement, days_ago=2)
    stuck_less = _engagement(programme, S.pending_agreement, days_ago=31)
    middle = _engagement(programme, S.pending_agreement, days_ago=20)
    stuck_most = _engagement(programme, S.pending_agreement, days_ago=90)
    cards = _column(pipeline_board(programme, world["admin"], today=TODAY), S.pending_agreement).cards
    assert [card.engagement_id for card in cards] == [stuck_most.id, stuck_less.id, middle.id, newest.id]
    assert [card.stuck for card in cards] == [True, True, False, False]


def test_stuck_only_filter_keeps_the_stuck_cards_and_the_full_counts(world):
    programme = world["programme"]
    late = _engagement(programme, S.final_report, days_ago=31)
    _engagement(programme, S.final_report, days_ago=30)
    _engagement(programme, S.pending_agreement, days_ago=1)
    board = pipeline_board(programme, world["admin"], today=TODAY, stuck_only=True)
    assert [card.engagement_id for column in board.columns for card in column.cards] == [late.id]
    column = _column(board, S.final_report)
    assert (column.count, column.stuck_count, column.more) == (2, 1, 0)


def test_a_column_shows_at_most_the_card_limit_and_counts_the_rest(world, monkeypatch):
    monkeypatch.setattr(pipeline, "CARDS_PER_COLUMN", 2)
    programme = world["programme"]
    made = [_engagement(programme, S.in_progress, days_ago=days) for days in (1, 5, 3, 4)]
    _engagement(programme, S.agreed, days_ago=1)
    board = pipeline_board(programme, world["admin"], today=TODAY)
    column = _column(board, S.in_progress)
    assert [card.engagement_id for card in column.cards] == [made[1].id, made[3].id]
    assert (column.count, column.more) == (4, 2)
    assert (len(_column(board, S.agreed).cards), _column(board, S.agreed).more) == (1, 0)


def test_at_most_50_cards_per_column_by_default(world):
    programme = world["programme"]
    for _ in range(52):
        make_engagement(programme, status=S.closed, status_changed_at=_changed(1))
    column = _column(pipeline_board(programme, world["admin"], today=TODAY), S.closed)
    assert (column.count, len(column.cards), column.more) == (52, 50, 2)


# --- The page ----------------------------------------------------------------------------------------------


def test_board_page_in_english(client_en, world):
    programme = world["programme"]
    today = today_kst()
    late = make_engagement(
        programme,
        make_firm(world["consortium"], name="(주)지연기업"),
        status=S.agreed,
        status_changed_at=_changed(20, today),
    )
    fine = make_engagement(
        programme,
        make_firm(world["consortium"], name="(주)정상기업"),
        status=S.agreed,
        status_changed_at=_changed(3, today),
    )
    login(client_en, world["coordinator"].email)
    response = client_en.get(f"/programmes/{programme.id}/pipeline")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Pipeline board" in html
    for title in ("Awaiting agreement", "Agreed", "In progress", "Settlement", "Follow-up", "Terminated"):
        assert f"<span>{title}</span>" in html
    assert "SLA (days): 14" in html and "Exceeded: 1" in html and "No SLA" in html
    assert f'href="/engagements/{late.id}"' in html and f'href="/engagements/{fine.id}"' in html
    late_card = re.search(rf'<li class="pipeline-card stuck">\s*<p><a href="/engagements/{late.id}">', html)
    assert late_card, "the late card is marked stuck"
    assert (
        html.count('<span class="badge badge-danger">SLA exceeded</span>') == 1
        and "Days in status: 20" in html
        and "Days over the SLA: 6" in html
    )
    assert "Days in status: 3" in html
    assert "2 engagements; 1 past the SLA of their status." in html
    # Stuck ones first.
    assert html.index("(주)지연기업") < html.index("(주)정상기업")


def test_board_page_stuck_filter(client_en, world):
    programme = world["programme"]
    today = today_kst()
    make_engagement(
        programme,
        make_firm(world["consortium"], name="(주)지연기업"),
        status=S.final_check,
        status_changed_at=_changed(45, today),
    )
    make_engagement(
        programme,
        make_firm(world["consortium"], name="(주)정상기업"),
        status=S.final_check,
        status_changed_at=_changed(1, today),
    )
    login(client_en, world["manager"].email)
    html = client_en.get(f"/programmes/{programme.id}/pipeline?stuck=1").get_data(as_text=True)
    assert "(주)지연기업" in html and "(주)정상기업" not in html
    assert 'aria-current="page">Only SLA exceeded' in html


def test_board_page_says_how_many_more(client_en, world, monkeypatch):
    monkeypatch.setattr(pipeline, "CARDS_PER_COLUMN", 1)
    for days in (1, 2, 3):
        _engagement(world["programme"], S.pending_agreement, days_ago=days)
    login(client_en, world["admin"].email)
    html = client_en.get(f"/programmes/{world['programme'].id}/pipeline").get_data(as_text=True)
    assert "+2 more" in html


def test_programme_page_links_to_the_board_for_staff_only(client_en, world):
    programme = world["programme"]
    link = f'href="/programmes/{programme.id}/pipeline"'
    login(client_en, world["manager"].email)
    assert link in client_en.get(f"/programmes/{programme.id}").get_data(as_text=True)
    viewer = client_en.application.test_client()
    viewer.set_cookie("lang", "en")
    login(viewer, make_user(Role.national_viewer).email)
    page = viewer.get(f"/programmes/{programme.id}")
    assert page.status_code == 200 and link not in page.get_data(as_text=True)


# --- Stuck engagements across programmes -------------------------------------------------------------------


def test_stuck_engagements_across_the_programmes_a_user_sees(world):
    programme = world["programme"]
    second = make_programme(world["year"], world["institution"], sla_days={"final_report": 10})
    neighbour = make_programme(world["year"], make_institution(world["consortium"]), sla_days={"agreed": 1})
    elsewhere = make_programme(sla_days={"agreed": 1})
    a = _engagement(programme, S.agreed, days_ago=40)
    b = _engagement(second, S.final_report, days_ago=11)
    _engagement(second, S.final_report, days_ago=10)  # exactly the SLA
    _engagement(second, S.agreed, days_ago=99)  # this programme has no SLA for agreed
    c = _engagement(neighbour, S.agreed, days_ago=2)
    _engagement(elsewhere, S.agreed, days_ago=50)
    _engagement(programme, S.closed, days_ago=500)

    mine = stuck_engagements(world["coordinator"], today=TODAY)
    assert [card.engagement_id for card in mine] == [a.id, b.id]
    assert [(card.days_in_status, card.sla_days, card.days_over) for card in mine] == [
        (40, 14, 26),
        (11, 10, 1),
    ]
    assert mine[1].programme_name == second.name and mine[1].status is S.final_report
    assert pipeline.count_stuck_engagements(world["coordinator"], today=TODAY) == 2

    managers = stuck_engagements(world["manager"], today=TODAY)
    assert [card.engagement_id for card in managers] == [a.id, b.id, c.id]
    assert [card.engagement_id for card in stuck_engagements(world["manager"], today=TODAY, limit=1)] == [
        a.id
    ]
    assert pipeline.count_stuck_engagements(world["admin"], today=TODAY) == 4


def test_no_stuck_engagements_for_someone_who_sees_none(world):
    _engagement(world["programme"], S.agreed, days_ago=40)
    assert stuck_engagements(make_user(Role.evaluator), today=TODAY) == []
    assert pipeline.count_stuck_engagements(make_user(Role.coordinator), today=TODAY) == 0


# --- Demo data ---------------------------------------------------------------------------------------------


def test_demo_seed_fills_the_settings_and_takes_days_from_the_history(world):
    bare = make_programme(world["year"], world["institution"], track=Track.consulting)
    engagement = _engagement(bare, S.agreed, days_ago=0)
    make_engagement_history(engagement, to_status=S.pending_agreement, at=_changed(40))
    make_engagement_history(engagement, to_status=S.agreed, at=_changed(20))
    seed_pipeline(random.Random(1), TODAY)

    assert bare.sla_days["agreed"] in (7, 14, 21) and "settlement" not in bare.sla_days
    assert (bare.survey_rounds, bare.survey_indicators) == (0, [])
    assert world["programme"].sla_days == SLA  # settings already there are kept
    assert engagement.status_changed_at == _changed(20)
    card = _column(pipeline_board(bare, world["admin"], today=TODAY), S.agreed).cards[0]
    assert card.days_in_status == 20 and card.stuck is (bare.sla_days["agreed"] < 20)
