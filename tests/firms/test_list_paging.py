"""Keyset paging of the firm list (/firms) and of the API's firm list: links by cursor that keep the filters,
no row twice and none missed even among equal names, bad cursors answered without an error page, and a page
that starts after its cursor's row (not after a count of rows, which shifts when firms are added)."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

import pytest
import sqlalchemy as sa

from crm.auth.models import Role
from crm.core.pagination import (
    InvalidCursor,
    key_cursor,
    offset_cursor,
    read_cursor,
    read_window,
    sort_keys,
)
from crm.extensions import db
from crm.firms.models import Firm
from crm.firms.operations import search_firms
from tests.api.helpers import Api
from tests.conftest import login
from tests.factories import make_consortium, make_firm, make_user

PER_PAGE = 3


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
def scene(app, app_ctx, monkeypatch):
    """Eleven firms of one consortium: four share one name and three another, so pages split inside a run
    of equal names; plus one firm of another consortium the manager must never see."""
    monkeypatch.setitem(app.config, "PAGE_SIZE", PER_PAGE)
    consortium = make_consortium()
    manager = make_user(Role.consortium_manager, consortium=consortium)
    names = ["가람정밀"] * 4 + ["나래기계"] * 3 + ["다온산업", "라온테크", "마루전자", "바다소재"]
    for n, name in enumerate(names):
        make_firm(consortium, name=name, sido_code="26" if n % 2 else "31")
    make_firm(make_consortium(), name="가람정밀")
    db.session.flush()
    return manager, consortium


def _expected(manager, **filters) -> list[int]:
    return [firm.id for firm in db.session.scalars(search_firms(manager, **filters))]


def _ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/firms/(\d+)"', html)]


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return unescape(found.group(1)) if found else None


def _walk(client, url: str, rel: str) -> list[list[int]]:
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        pages.append(_ids(html))
        url = _link(html, rel)
        assert len(pages) < 20, "the links go round in circles"
    return pages


def test_next_links_visit_every_firm_once_in_order_and_previous_links_come_back(client, scene):
    manager, _ = scene
    login(client, manager.email)
    forward = _walk(client, "/firms", "next")
    expected = _expected(manager)
    assert [firm_id for page in forward for firm_id in page] == expected
    assert len(expected) == 11 and [len(page) for page in forward] == [3, 3, 3, 2]

    last = client.get("/firms").get_data(as_text=True)
    for _ in range(3):
        last = client.get(_link(last, "next")).get_data(as_text=True)
    backward = _walk(client, _link(last, "prev"), "prev")
    assert backward == forward[-2::-1]


def test_pages_show_first_link_and_total_and_the_first_page_has_no_previous(client_en, scene):
    manager, _ = scene
    login(client_en, manager.email)
    first = client_en.get("/firms").get_data(as_text=True)
    assert _link(first, "prev") is None and "First" not in first and "11 in all" in first
    second = client_en.get(_link(first, "next")).get_data(as_text=True)
    assert re.search(r'<a href="/firms">&laquo; First</a>', second)
    assert _link(second, "prev") and "11 in all" in second


def test_filters_are_kept_across_pages(client, scene):
    manager, _ = scene
    login(client, manager.email)
    pages = _walk(client, "/firms?sido=26&q=%EA%B0%80%EB%9E%8C", "next")  # 가람, in 부산
    expected = _expected(manager, q="가람", sido="26")
    assert [firm_id for page in pages for firm_id in page] == expected and len(expected) == 2
    pages = _walk(client, "/firms?sido=31", "next")
    assert [firm_id for page in pages for firm_id in page] == _expected(manager, sido="31")
    html = client.get("/firms?sido=31").get_data(as_text=True)
    assert "sido=31" in _link(html, "next")


def test_a_page_starts_after_its_cursor_row_even_when_firms_are_added_before_it(client, scene):
    manager, consortium = scene
    login(client, manager.email)
    first = client.get("/firms").get_data(as_text=True)
    make_firm(consortium, name="가가가")  # sorts before everything on the first page
    db.session.flush()
    second = _ids(client.get(_link(first, "next")).get_data(as_text=True))
    assert second == _expected(manager)[4:7]  # an offset would have repeated the first page's last row


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90IGpzb24",  # "not json"
        key_cursor(["가람정밀"]),  # too few values
        key_cursor([1, 2]),  # a number for the name
        key_cursor(["가람정밀", "7"]),  # text for the id
        key_cursor(["가람정밀", True]),
        key_cursor([{"t": "2026-01-01T00:00:00"}, 1]),
        key_cursor(["가람정밀", 2**31]),  # beyond the id column's range
        key_cursor(["가람\x00정밀", 1]),  # PostgreSQL refuses NUL in text
        _raw({"o": -1}),
        _raw({"o": 10**30}),
        _raw({"o": 1, "k": ["가람정밀", 1]}),
        _raw(["가람정밀", 1]),
    ],
)
def test_a_bad_cursor_starts_again_from_the_first_page_with_a_notice(client_en, scene, cursor):
    manager, _ = scene
    login(client_en, manager.email)
    response = client_en.get("/firms", query_string={"after": cursor, "sido": "31"})
    assert response.status_code == 302 and response.location == "/firms?sido=31"
    html = client_en.get(response.location).get_data(as_text=True)
    assert "That page link is no longer valid" in html
    assert _ids(html) == _expected(manager, sido="31")[:PER_PAGE]
    response = client_en.get("/firms", query_string={"before": cursor})
    assert response.status_code == 302 and response.location == "/firms"


@pytest.mark.parametrize("page", ["0", "-3", "abc", str(10**15)])
def test_odd_page_numbers_open_a_page_not_an_error(client, scene, page):
    manager, _ = scene
    login(client, manager.email)
    response = client.get("/firms", query_string={"page": page})
    assert response.status_code == 200
    if page != str(10**15):
        assert _ids(response.get_data(as_text=True)) == _expected(manager)[:PER_PAGE]


def test_old_page_number_links_still_open_that_page(client, scene):
    manager, _ = scene
    login(client, manager.email)
    html = client.get("/firms?page=2").get_data(as_text=True)
    expected = _expected(manager)
    assert _ids(html) == expected[3:6]
    assert _ids(client.get(_link(html, "next")).get_data(as_text=True)) == expected[6:9]
    assert _ids(client.get(_link(html, "prev")).get_data(as_text=True)) == expected[0:3]


def test_the_api_cursor_marks_a_row_not_a_count(app, scene):
    manager, consortium = scene
    api = Api(app, manager)
    first = api.get("/firms?limit=4").get_json()
    make_firm(consortium, name="가가가")
    db.session.flush()
    second = api.get("/firms", query_string={"limit": 4, "cursor": first["next_cursor"]}).get_json()
    expected = _expected(manager)
    assert [item["id"] for item in second["items"]] == expected[5:9] and second["total"] == 12
    # A cursor made by the former offset paging still works (clients may hold one).
    old = api.get("/firms", query_string={"limit": 4, "cursor": offset_cursor(4)}).get_json()
    assert [item["id"] for item in old["items"]] == expected[4:8] and old["next_cursor"]


def test_read_window_pages_a_mixed_order_without_gaps(app, scene):
    manager, _ = scene
    statement = search_firms(manager).order_by(None).order_by(Firm.name.desc(), Firm.id)
    expected = [firm.id for firm in db.session.scalars(statement)]
    seen, cursor = [], None
    while True:
        window = read_window(statement, 4, after=cursor)
        seen += [firm.id for firm in window.items]
        if window.next_cursor is None:
            break
        cursor = window.next_cursor
    assert seen == expected and len(seen) == 11
    # Before the last page (rows 8–10) come rows 4–7; before row 4 only the first page is left.
    back = read_window(statement, 4, before=key_cursor([window.items[0].name, window.items[0].id]))
    assert [firm.id for firm in back.items] == expected[4:8]
    assert [firm.id for firm in read_window(statement, 4, before=back.prev_cursor).items] == expected[0:4]


def test_lists_that_cannot_be_keyed_page_by_offset(app, scene):
    manager, _ = scene
    by_expression = search_firms(manager).order_by(None).order_by(sa.func.lower(Firm.name), Firm.id)
    without_tie_break = search_firms(manager).order_by(None).order_by(Firm.name)
    nullable = search_firms(manager).order_by(None).order_by(Firm.employees, Firm.id)
    assert sort_keys(search_firms(manager)) is not None
    for statement in (by_expression, without_tie_break, nullable):
        assert sort_keys(statement) is None
        window = read_window(statement, 4)
        assert read_cursor(window.next_cursor, None) == 4
        with pytest.raises(InvalidCursor):
            read_cursor(key_cursor(["가람정밀", 1]), None)
