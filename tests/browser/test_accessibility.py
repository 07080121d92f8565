"""Accessibility (axe-core, WCAG 2 A/AA) and 375 px mobile checks on the key pages of each role.

axe-core is vendored under tests/browser/vendor/ (npm package, MPL-2.0) and injected only into the test
browser; the app never serves it. The app's CSP forbids inline script, so these contexts bypass CSP —
only for the accessibility test, the journeys keep the real policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import TIMEOUT_MS, sign_in

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
MOBILE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
BLOCKING = ("serious", "critical")


def _first_href(page, selector: str) -> str:
    link = page.locator(selector).first
    assert link.count(), f"no link {selector!r} on {page.url}"
    href = link.get_attribute("href")
    assert href
    return href


def _staff_coordinator_pages(page) -> list[str]:
    page.goto("/firms")
    firm = _first_href(page, "main table tbody a[href*='/firms/']")
    page.goto("/engagements")
    engagement = _first_href(page, "main table tbody a[href*='/engagements/']")
    return ["/firms", firm, "/engagements", engagement, "/notices/new"]


def _firm_user_pages(page) -> list[str]:
    page.goto("/portal/engagements")
    engagement = _first_href(page, "main table a[href*='/portal/engagements/']")
    return ["/portal", engagement]


# role (None = signed out) → how to find its key pages once signed in
JOURNEYS = {
    "anonymous": (None, lambda page: ["/login"]),
    "manager": ("manager@example.com", lambda page: ["/dashboard"]),
    "coordinator": ("coordinator@example.com", _staff_coordinator_pages),
    "firm_user": ("firm@example.com", _firm_user_pages),
}


def _context(browser, live_server: str, locale: str, viewport: dict) -> Iterator[object]:
    context = browser.new_context(base_url=live_server, locale=locale, viewport=viewport, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(params=["ko-KR", "en-US"])
def locale(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def desktop(browser, live_server: str, locale: str) -> Iterator[object]:
    yield from _context(browser, live_server, locale, DESKTOP)


@pytest.fixture
def mobile(browser, live_server: str) -> Iterator[object]:
    yield from _context(browser, live_server, "ko-KR", MOBILE)


def _pages_for(page, journey: str) -> list[str]:
    email, find_pages = JOURNEYS[journey]
    if email:
        sign_in(page, email)
    return find_pages(page)


def _visit(page, path: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response and response.status)


def _blocking_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})")
    found = []
    for violation in result["violations"]:
        if violation["impact"] in BLOCKING:
            targets = [", ".join(map(str, node["target"])) for node in violation["nodes"][:5]]
            found.append(f"{violation['impact']} {violation['id']}: {violation['help']} → {targets}")
    return found


@pytest.mark.parametrize("journey", list(JOURNEYS))
def test_key_pages_have_no_serious_accessibility_violations(desktop, journey: str) -> None:
    problems = {}
    for path in _pages_for(desktop, journey):
        _visit(desktop, path)
        found = _blocking_violations(desktop)
        if found:
            problems[path] = found
    assert not problems, "\n".join(f"{path}:\n  " + "\n  ".join(v) for path, v in problems.items())


@pytest.mark.parametrize("journey", list(JOURNEYS))
def test_key_pages_fit_a_375px_screen(mobile, journey: str) -> None:
    overflowing = {}
    for path in _pages_for(mobile, journey):
        _visit(mobile, path)
        width = mobile.evaluate("() => document.documentElement.scrollWidth")
        if width > MOBILE["width"] + 1:
            # Name the innermost boxes whose content spills past the screen so the failure says what to fix.
            culprits = mobile.evaluate(
                """() => [...document.querySelectorAll('body *')]
                    .filter(e => !e.closest('.table-wrap') && getComputedStyle(e).overflowX === 'visible'
                                 && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0
                                 && e.getBoundingClientRect().left + e.scrollWidth > 376)
                    .slice(-8)
                    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                              + (e.id ? '#' + e.id : '') + ' scrollWidth=' + e.scrollWidth)"""
            )
            overflowing[path] = (width, culprits)
    assert not overflowing, overflowing


def _focused(page) -> dict:
    return page.evaluate(
        """() => {
            const e = document.activeElement;
            const style = getComputedStyle(e);
            return {tag: e.tagName, id: e.id, cls: e.className, href: e.getAttribute('href'),
                    text: (e.innerText || e.value || '').trim().slice(0, 80),
                    outline: parseFloat(style.outlineWidth) || 0, outlineStyle: style.outlineStyle};
        }"""
    )


@pytest.mark.parametrize("who", ["coordinator@example.com", "firm@example.com"])
def test_keyboard_reaches_the_content_first_and_focus_is_visible(page, who: str) -> None:
    sign_in(page, who)
    page.goto("/firms" if who.startswith("coordinator") else "/portal")
    page.keyboard.press("Tab")
    skip = _focused(page)
    assert skip["tag"] == "A" and skip["href"] == "#main", skip
    assert skip["outline"] >= 2 and skip["outlineStyle"] != "none", skip
    page.keyboard.press("Enter")
    assert _focused(page)["id"] == "main"

    # From the content on, every stop is an interactive element with a visible focus ring, in document order.
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = _focused(page)
        assert focused["tag"] in ("A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "SUMMARY"), focused
        assert focused["outline"] >= 2 and focused["outlineStyle"] != "none", focused
        seen.append(focused["text"] or focused["tag"])
    assert len(seen) == 12
