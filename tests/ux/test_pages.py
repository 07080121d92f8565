"""UX of the rendered pages: D-N badges, compact money with the exact amount kept, empty states that say what
to do next, forms that keep what was typed, the skip link, and one current menu entry."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from crm.auth.models import Role
from crm.core.time import today_kst
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.milestones.models import MilestoneOwner
from tests.conftest import login, post_form
from tests.factories import (
    make_application,
    make_call,
    make_engagement,
    make_institution,
    make_milestone,
    make_programme,
    make_programme_year,
    make_user,
)

TODAY = today_kst()
FOCUSABLE = re.compile(r"<(a|button|input|select|textarea)\b([^>]*)>", re.IGNORECASE)


@pytest.fixture
def world(app_ctx):
    year = make_programme_year(starts_on=TODAY - timedelta(days=200), ends_on=TODAY + timedelta(days=300))
    institution = make_institution(year.consortium)
    programme = make_programme(year, institution, per_firm_cap_krw=None)
    engagement = make_engagement(programme, status=EngagementStatus.in_progress)
    return {
        "programme": programme,
        "engagement": engagement,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "firm_user": make_user(Role.firm_user, firm=engagement.firm),
    }


def test_milestones_show_a_dday_badge_and_overdue_ones_say_so(client_en, world):
    engagement = world["engagement"]
    make_milestone(engagement, title="Kick-off report", due_on=TODAY + timedelta(days=5))
    make_milestone(engagement, kind="interim", title="Interim report", due_on=TODAY - timedelta(days=3))
    make_milestone(engagement, kind="final", title="Final report", due_on=TODAY + timedelta(days=40))
    login(client_en, world["firm_user"].email)
    html = client_en.get(f"/portal/engagements/{engagement.id}").get_data(as_text=True)

    soon = re.search(r'<span class="badge badge-warn dday-soon dday" title="([^"]+)">D-5</span>', html)
    assert soon and soon.group(1).startswith((TODAY + timedelta(days=5)).isoformat() + " ("), html
    overdue = (
        r'class="badge badge-danger dday dday-overdue"[^>]*>D\+3<span class="visually-hidden"> \(overdue\)'
    )
    assert re.search(overdue, html), html
    assert re.search(r'<span class="badge dday-later dday"[^>]*>D-40</span>', html), html


def test_pipeline_cards_show_public_funds_compact_with_the_exact_amount_in_title(client, client_en, world):
    engagement = world["engagement"]
    engagement.gov_krw, engagement.local_krw = 100_000_000, 23_400_000
    db.session.flush()
    coordinator = world["coordinator"]
    login(client, coordinator.email)
    korean = client.get(f"/programmes/{world['programme'].id}/pipeline").get_data(as_text=True)
    assert '<span class="money money-short" title="123,400,000원">1억 2,340만원</span>' in korean
    login(client_en, coordinator.email)
    english = client_en.get(f"/programmes/{world['programme'].id}/pipeline").get_data(as_text=True)
    assert '<span class="money money-short" title="₩123,400,000">₩123.4M</span>' in english
    # An empty column says so in a sentence rather than a bare "None".
    assert "No engagement in this status." in english


def test_empty_lists_say_what_to_do_next_with_the_link_to_do_it(client_en, world):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    html = client_en.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    activities = re.search(
        r'<p class="empty">No activities recorded yet\. Record [^<]*<a href="([^"]+)">', html
    )
    assert activities and activities.group(1) == f"/engagements/{engagement.id}/activities/new", html

    notices = client_en.get("/notices").get_data(as_text=True)
    compose = r'<p class="empty">No notices yet\. Write one[^<]*<a href="/notices/new">Write a notice</a>'
    assert re.search(compose, notices), notices

    # A filtered list that comes back empty offers to clear the filters.
    milestones = client_en.get("/milestones?status=done").get_data(as_text=True)
    clear = r'<p class="empty">No milestones match these filters\. <a href="/milestones">Clear filters</a>'
    assert re.search(clear, milestones), milestones


def test_a_refused_milestone_completion_keeps_the_note_and_asks_for_the_file_again(client_en, world):
    milestone = make_milestone(world["engagement"], owner=MilestoneOwner.firm, due_on=TODAY)
    login(client_en, world["firm_user"].email)
    page = client_en.get(f"/milestones/{milestone.id}/complete").get_data(as_text=True)
    assert "choose it again" not in page  # nothing was sent yet
    refused = post_form(client_en, f"/milestones/{milestone.id}/complete", {"note": "Minutes of 3 March"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert re.search(r">\s*Minutes of 3 March</textarea>", html), html
    again = re.search(r'<p class="help file-again" id="([^"]+)">If you chose a file, choose it again', html)
    assert again, html
    # The file input points screen readers at the note.
    file_input = re.search(r'<input[^>]*type="file"[^>]*>', html)
    assert file_input and again.group(1) in file_input.group(0), html


def _first_focusable(html: str) -> str:
    body = html[html.index("<body") :]
    for match in FOCUSABLE.finditer(body):
        attributes = match.group(2)
        if 'type="hidden"' in attributes or re.search(r"\shidden(\s|$|>)", attributes + ">"):
            continue
        return match.group(0)
    raise AssertionError("nothing focusable")


@pytest.mark.parametrize("who", [None, "coordinator", "firm_user"])
def test_the_skip_link_comes_first_on_staff_and_portal_pages(client, world, who):
    if who:
        login(client, world[who].email)
    path = {None: "/login", "coordinator": "/engagements", "firm_user": "/portal"}[who]
    html = client.get(path).get_data(as_text=True)
    first = _first_focusable(html)
    assert 'class="skip-link"' in first and 'href="#main"' in first, first
    assert "본문 바로가기" in html or "Skip to content" in html
    assert '<main id="main" tabindex="-1">' in html
    assert not re.search(r'tabindex="[1-9]', html)


def test_exactly_one_menu_entry_is_current(client_en, world):
    call = make_call(world["programme"])
    application = make_application(call, world["engagement"].firm)
    login(client_en, world["firm_user"].email)
    # Both pages belong to the applications blueprint, which has two menu entries.
    assert _current_entries(client_en, f"/portal/applications/{application.id}") == ["/portal/applications"]
    assert _current_entries(client_en, f"/portal/calls/{call.id}") == ["/portal/calls"]
    # A page outside any menu entry's blueprint names its entry itself.
    milestone = make_milestone(world["engagement"], owner=MilestoneOwner.firm, due_on=TODAY)
    assert _current_entries(client_en, f"/milestones/{milestone.id}/complete") == ["/portal/engagements"]


def _current_entries(client, path: str) -> list[str]:
    html = client.get(path).get_data(as_text=True)
    start = html.index('<nav class="mainnav"')
    return re.findall(r'<a href="([^"]+)" aria-current="page">', html[start : html.index("</nav>", start)])
