"""Who may open the portal's pages: public sign-up pages, staff-only account requests, firm-user pages."""

from __future__ import annotations

import pytest

from crm.auth.models import Role
from tests.conftest import login
from tests.factories import make_consortium, make_firm, make_firm_claim, make_institution, make_user

PUBLIC = ["/portal/signup", "/portal/verify/resend"]
STAFF_ONLY = ["/portal/claims", "/portal/claims/{claim}"]
FIRM_ONLY = [
    "/portal",
    "/portal/firm",
    "/portal/contacts",
    "/portal/contacts/new",
    "/portal/contacts/1/edit",
    "/portal/contacts/1/delete",
]
STAFF = {Role.admin, Role.consortium_manager, Role.coordinator}


def _user(role: Role):
    if role is Role.coordinator:
        return make_user(role, institution=make_institution())
    if role is Role.consortium_manager:
        return make_user(role, consortium=make_consortium())
    if role is Role.firm_user:
        return make_user(role, firm=make_firm())
    return make_user(role)


def test_anonymous_visitors_reach_only_the_public_pages(client):
    claim = make_firm_claim()
    for url in PUBLIC:
        assert client.get(url).status_code == 200, url
    assert client.get("/portal/signup/done").headers["Location"] == "/portal/signup"
    for url in STAFF_ONLY + FIRM_ONLY:
        response = client.get(url.format(claim=claim.id))
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_reaches_only_its_own_portal_pages(client, role):
    claim = make_firm_claim()
    login(client, _user(role).email)
    for url in STAFF_ONLY:
        status = client.get(url.format(claim=claim.id)).status_code
        if role is Role.admin:
            assert status == 200, url
        elif role in STAFF:
            # The claim's firm is not related to this user's consortium: the list opens, the claim does not.
            assert status == (404 if "{claim}" in url else 200), url
        else:
            assert status == 403, url
    for url in FIRM_ONLY:
        status = client.get(url).status_code
        if role is Role.firm_user:
            assert status in (200, 404), url  # contact 1 is not this firm's
        else:
            assert status == 403, url


def test_the_firm_users_menu_leads_to_the_portal(client_en):
    login(client_en, make_user(Role.firm_user).email)
    page = client_en.get("/portal").get_data(as_text=True)
    assert '<a href="/portal" aria-current="page">My firm</a>' in page
