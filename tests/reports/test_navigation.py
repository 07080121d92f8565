"""Who reaches the reports: the main menu entry, the links between the three pages, and refused roles."""

from __future__ import annotations

import pytest

from crm.auth.models import Role
from tests.conftest import login
from tests.factories import make_consortium, make_institution, make_user

PAGES = ("/reports/budgets", "/reports/outcomes", "/reports/stages")


def _user(role: Role):
    if role is Role.coordinator:
        return make_user(role, institution=make_institution())
    if role is Role.consortium_manager:
        return make_user(role, consortium=make_consortium())
    return make_user(role)


@pytest.mark.parametrize(
    "role", [Role.admin, Role.consortium_manager, Role.coordinator, Role.national_viewer]
)
def test_report_roles_get_the_menu_and_the_pages(client_en, app_ctx, role):
    login(client_en, _user(role).email)
    for page in PAGES:
        response = client_en.get(page)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, page
        assert '<a href="/reports/budgets" aria-current="page">Reports</a>' in html
        for other in PAGES:
            assert f'href="{other}"' in html
        assert "No programmes in this selection." in html


@pytest.mark.parametrize("role", [Role.evaluator, Role.firm_user])
def test_other_roles_are_refused(client_en, app_ctx, role):
    login(client_en, _user(role).email)
    assert ">Reports</a>" not in client_en.get("/account").get_data(as_text=True)
    for page in PAGES:
        assert client_en.get(page).status_code == 403
        assert client_en.get(f"{page}?format=csv").status_code == 403
