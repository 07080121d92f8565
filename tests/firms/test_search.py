from __future__ import annotations

import pytest

from crm.auth.models import Role
from crm.extensions import db
from crm.firms.operations import search_firms
from tests.conftest import login
from tests.factories import make_consortium, make_firm, make_user


@pytest.fixture
def scene(app):
    consortium = make_consortium()
    manager = make_user(Role.consortium_manager, consortium=consortium)
    firms = {
        "ulsan": make_firm(consortium, name="(주)울산스마트팩토리", brn="1248100998"),
        "busan": make_firm(
            consortium, name="(주)부산스마트팩토리", sido_code="26", sigungu_code="26290", ksic_code="62010"
        ),
        "percent": make_firm(consortium, name="100%_정밀", ksic_code="29120"),
    }
    return manager, firms


def names(user, **kw):
    return [firm.name for firm in db.session.scalars(search_firms(user, **kw)).all()]


def test_initial_consonants_find_ulsan_not_busan(scene):
    manager, _ = scene
    assert names(manager, q="ㅇㅅ") == ["(주)울산스마트팩토리"]
    assert names(manager, q="ㅂㅅ ㅅㅁ") == ["(주)부산스마트팩토리"]


def test_brn_digits_with_or_without_dashes(scene):
    manager, _ = scene
    assert names(manager, q="81-009") == ["(주)울산스마트팩토리"]
    assert names(manager, q="1248100998") == ["(주)울산스마트팩토리"]


def test_partial_name_is_case_insensitive_and_wildcards_are_literal(scene):
    manager, _ = scene
    assert names(manager, q="스마트") == ["(주)부산스마트팩토리", "(주)울산스마트팩토리"]
    assert names(manager, q="%_") == ["100%_정밀"]
    assert names(manager, q="_") == ["100%_정밀"]


def test_region_filters(scene):
    manager, _ = scene
    assert names(manager, sido="26") == ["(주)부산스마트팩토리"]
    assert names(manager, sigungu="31140") == ["(주)울산스마트팩토리", "100%_정밀"]
    assert len(names(manager, sido="99")) == 3  # an unknown code is ignored, not an empty list


def test_ksic_prefix_and_section_filters(scene):
    manager, _ = scene
    assert names(manager, ksic_filter="62") == ["(주)부산스마트팩토리"]
    assert names(manager, ksic_filter="26110") == ["(주)울산스마트팩토리"]
    assert names(manager, ksic_filter="c") == ["(주)울산스마트팩토리", "100%_정밀"]
    assert names(manager, ksic_filter="J") == ["(주)부산스마트팩토리"]


def test_list_page_searches_and_shows_columns(client, scene):
    manager, _ = scene
    login(client, manager.email)
    html = client.get("/firms", query_string={"q": "ㅇㅅ"}).get_data(as_text=True)
    assert "(주)울산스마트팩토리" in html and "(주)부산스마트팩토리" not in html
    assert "124-81-00998" in html and "울산광역시 남구" in html and "26110" in html and "제조업" in html

    html = client.get("/firms", query_string={"sido": "26", "ksic": "J"}).get_data(as_text=True)
    assert "(주)부산스마트팩토리" in html and "(주)울산스마트팩토리" not in html


def test_empty_search_says_what_to_do(client_en, scene):
    manager, _ = scene
    login(client_en, manager.email)
    html = client_en.get("/firms", query_string={"q": "없는회사"}).get_data(as_text=True)
    assert "No firm matches these filters" in html


def test_pagination_second_page(client):
    consortium = make_consortium()
    for n in range(27):
        make_firm(consortium, name=f"(주)페이지{n:02d}")
    login(client, make_user(Role.consortium_manager, consortium=consortium).email)
    first = client.get("/firms").get_data(as_text=True)
    second = client.get("/firms", query_string={"page": 2}).get_data(as_text=True)
    assert "(주)페이지00" in first and "(주)페이지24" in first and "(주)페이지25" not in first
    assert "(주)페이지25" in second and "(주)페이지26" in second and "(주)페이지00" not in second


def test_latin_letters_match_in_either_case(scene):
    """Hangul-only queries use LIKE (Hangul has no case); a query with Latin letters still ignores case."""
    manager, _ = scene
    make_firm(manager.consortium, name="(주)울산AI솔루션")
    assert names(manager, q="ai솔루션") == ["(주)울산AI솔루션"]
    assert names(manager, q="Ai") == ["(주)울산AI솔루션"]
    assert names(manager, q="울산AI") == ["(주)울산AI솔루션"]
