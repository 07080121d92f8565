"""Journeys that change data, clicked through in headless Chromium against the browser stack (its own
database, a real Celery worker and an SMTP sink; see conftest.py).

Each journey works on demo records no other browser test reads, so the read-only journeys and the
accessibility scans see the same demo data whichever order the tests run in. Screenshots of the pages on
the way go to tests/artifacts/ as `<journey>-<step>.png`.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.core.time import today_kst
from tests.browser.conftest import Stack, screenshot, sign_in
from tests.worker_harness import wait_for

pytestmark = pytest.mark.browser

# A 울산 firm whose demo application to the 2026 2nd call waits, submitted, for the 울산 coordinator.
FIRM = "(주)대성시스템즈"
FIRM_INITIALS = "ㄷㅅㅅㅅㅌ"
FIRM_CONTACT = "jiwoo.kim@daeseongsystems.example.com"
SUPPLIER = "(주)한결소프트"


def _click(tab, name: str, *, within: str = "main") -> None:
    """Clicks the button or link called `name` and waits for the page it leads to."""
    target = tab.locator(within).get_by_role("button", name=name, exact=True)
    if target.count() == 0:
        target = tab.locator(within).get_by_role("link", name=name, exact=True)
    with tab.expect_navigation():
        target.first.click()


def _move(tab, status: str, reason: str | None = None) -> None:
    """Opens the "Move to …" disclosure of an application and submits it."""
    move = tab.locator(f"details#move-{status}")
    move.locator("summary").click()
    if reason is not None:
        move.locator("textarea[name=reason]").fill(reason)
    with tab.expect_navigation():
        move.locator("button[type=submit]").click()


def _programme_of(stack: Stack, engagement_url: str) -> int:
    engagement_id = int(engagement_url.rstrip("/").rsplit("/", 1)[-1])
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                sa.text("SELECT programme_id FROM engagements WHERE id = :id"), {"id": engagement_id}
            )
    finally:
        engine.dispose()


def _heading(tab) -> str:
    return tab.locator("h1").first.inner_text()


def test_coordinator_selects_agrees_completes_a_milestone_and_sends_a_cohort_notice(
    page, stack: Stack
) -> None:
    tab = page
    sign_in(tab, "coordinator@example.com")

    # Find the firm by its initials and open its journey.
    tab.goto("/firms")
    tab.fill("main form[role=search] input[name=q]", FIRM_INITIALS)
    with tab.expect_navigation():
        tab.click("main form[role=search] button[type=submit]")
    with tab.expect_navigation():
        tab.locator("main table tbody a", has_text=FIRM).first.click()
    assert _heading(tab) == FIRM
    journey = tab.locator("main section", has_text="지원 여정").first.inner_text()
    assert "아직 협약된 지원이 없음" in journey, journey
    screenshot(tab, "coordinator-journey-before")

    # Review the application and take it through the programme's review path to selection.
    with tab.expect_navigation():
        tab.locator("#applications a", has_text="2차").first.click()
    assert re.search(r"/applications/\d+$", tab.url)
    application_url = tab.url
    assert "제출" in _heading(tab)
    screenshot(tab, "coordinator-application-review")
    for move, stage in (
        ("eligibility", "요건검토"),
        ("document_review", "서류평가"),
        ("presentation", "발표평가"),
    ):
        _move(tab, move)
        assert stage in _heading(tab), (stage, tab.inner_text("main")[:600])
    _move(tab, "selected", reason="서류·발표 평가 결과 상위 기업")
    assert tab.url == application_url
    assert "선정" in _heading(tab), tab.inner_text("main")[:600]
    screenshot(tab, "coordinator-application-selected")

    # The selection created an engagement waiting for its agreement: fill the terms and sign.
    tab.goto("/engagements")
    with tab.expect_navigation():
        tab.locator("main table tbody tr", has_text=FIRM).locator("a").first.click()
    engagement_url = tab.url
    assert "협약 대기" in tab.inner_text("main")
    _click(tab, "협약 내용 수정")
    today = today_kst()
    tab.select_option("select[name=coordinator_id]", label="이수행")
    tab.fill("input[name=agreed_on]", today.isoformat())
    tab.fill("input[name=starts_on]", today.isoformat())
    tab.fill("input[name=ends_on]", (today + timedelta(days=180)).isoformat())
    tab.fill("input[name=gov_krw]", "70,000,000")  # over 60 % of the total: refused, input kept
    tab.fill("input[name=local_krw]", "10,000,000")
    tab.fill("input[name=self_cash_krw]", "20,000,000")
    tab.fill("input[name=self_inkind_krw]", "0")
    tab.select_option("select[name=supplier_firm_id]", label=SUPPLIER)
    tab.fill("input[name=solution]", "비전 검사 AI")
    _click(tab, "저장")
    assert "60%" in tab.inner_text("main"), tab.inner_text("main")[:800]
    assert tab.input_value("input[name=solution]") == "비전 검사 AI"
    screenshot(tab, "coordinator-agreement-refused")
    tab.fill("input[name=gov_krw]", "30,000,000")
    _click(tab, "저장")
    assert tab.url.startswith(engagement_url), tab.inner_text("main")[:800]
    with tab.expect_navigation():
        tab.click("main form:has(input[name=to][value=agreed]) button[type=submit]")
    text = tab.inner_text("main")
    assert "30,000,000원" in text and SUPPLIER in text
    milestones = tab.locator("#milestones tbody tr")
    assert milestones.count() >= 3, text[:1500]
    screenshot(tab, "coordinator-engagement-agreed")

    # Complete the first milestone the institution owns, with evidence.
    row = tab.locator("#milestones tbody tr", has=tab.locator("a[href$='/complete']")).first
    title = row.locator("td").first.inner_text().strip()
    with tab.expect_navigation():
        row.locator("a[href$='/complete']").click()
    assert title in _heading(tab)
    tab.set_input_files(
        "input[name=evidence]",
        files=[{"name": "착수보고서.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 kickoff\n"}],
    )
    tab.fill("textarea[name=note]", "착수 회의 완료")
    with tab.expect_navigation():
        tab.click("main form button[type=submit]")
    assert tab.url.startswith(engagement_url), tab.inner_text("main")[:800]
    done = tab.locator("#milestones tbody tr", has_text=title).first.inner_text()
    assert "완료" in done, done
    screenshot(tab, "coordinator-milestone-done")

    # A cohort notice to the programme's agreed engagements reaches the firm's contact through the worker.
    marker = uuid.uuid4().hex[:8]
    subject = f"[AX CRM] 착수 안내 {marker}"
    tab.goto("/notices/new")
    tab.check("input[name=source][value=programme]")
    tab.select_option("select[name=programme_id]", value=str(_programme_of(stack, engagement_url)))
    tab.check("input[name=engagement_statuses][value=agreed]")
    tab.fill("input[name=subject]", subject)
    tab.fill("textarea[name=body]", "{firm_name} 담당자님, 협약이 체결되었습니다. 착수보고 기한: {due_on}")
    _click(tab, "미리보기")
    preview = tab.inner_text("main")
    assert re.search(r"\d+", preview) and "협약이 체결되었습니다" in preview, preview[:1500]
    screenshot(tab, "coordinator-notice-preview")
    _click(tab, "보내기")
    body = tab.inner_text("main")
    assert marker in body, body[:1500]
    screenshot(tab, "coordinator-notice-sent")

    wait_for(
        lambda: any(marker in str(m["Subject"]) for m in stack.sink.to(FIRM_CONTACT)),
        60,
        f"the notice at the sink; worker log:\n{stack.worker.output()}",
    )
    received = [m for m in stack.sink.to(FIRM_CONTACT) if marker in str(m["Subject"])]
    assert len(received) == 1
    assert FIRM in received[0].get_content()


# A 울산 firm registered by the 울산 institution, with no portal account and no application yet.
SME_FIRM = "주식회사 세진메탈"
SME_BRN = "611-86-32285"
OPEN_CALL = "2026년 울산 기술 검증 지원사업 1차 참여기업 모집"


def _link_in(message, path: str) -> str:
    found = re.search(rf"https?://\S+{re.escape(path)}\S*", message.get_content())
    assert found, message.get_content()
    return found.group(0).rstrip(".>)")


def test_sme_signs_up_is_approved_applies_and_sees_the_supplement_request(
    page, staff_page, stack: Stack
) -> None:
    tab, staff = page, staff_page
    marker = uuid.uuid4().hex[:8]
    email = f"sme-{marker}@example.com"
    password = "세진메탈 담당자 비밀번호 2026"

    # Sign up with the firm's registration number.
    tab.goto("/portal/signup")
    tab.fill("input[name=email]", email)
    tab.fill("input[name=name]", "정하늘")
    tab.fill("input[name=password]", password)
    tab.fill("input[name=password_confirm]", "다른 비밀번호입니다 2026")
    tab.fill("input[name=brn]", SME_BRN)
    tab.fill("textarea[name=message]", "세진메탈 생산관리팀 과장입니다.")
    tab.check("input[name=consent_privacy]")
    with tab.expect_navigation():
        tab.click("main form button[type=submit]")
    assert "두 비밀번호" in tab.inner_text("main") or "not the same" in tab.inner_text("main"), (
        tab.inner_text("main")[:800]
    )
    assert tab.input_value("input[name=brn]") == SME_BRN  # kept after the error
    tab.fill("input[name=password]", password)
    tab.fill("input[name=password_confirm]", password)
    with tab.expect_navigation():
        tab.click("main form button[type=submit]")
    assert tab.url.endswith("/portal/signup/done"), tab.inner_text("main")[:800]
    screenshot(tab, "sme-signup-done")

    # Confirm the address with the link that reached the SMTP sink through the worker.
    wait_for(
        lambda: bool(stack.sink.to(email)), 60, f"the confirmation mail; worker log:\n{stack.worker.output()}"
    )
    tab.goto(_link_in(stack.sink.to(email)[0], "/portal/verify/"))
    assert tab.url.rsplit("/", 2)[-2] == "verify"
    screenshot(tab, "sme-verified")

    sign_in(tab, email, password)
    assert "승인 대기 중" in tab.inner_text("main")
    screenshot(tab, "sme-waiting")

    # The 울산 coordinator approves the account request.
    sign_in(staff, "coordinator@example.com")
    staff.goto("/portal/claims")
    with staff.expect_navigation():
        staff.locator("main table tbody tr", has_text=SME_FIRM).locator("a").first.click()
    assert email in staff.inner_text("main")
    staff.check("input[name=decision][value=approve]")
    with staff.expect_navigation():
        staff.click("main form button[type=submit]")
    assert "승인" in staff.inner_text("main"), staff.inner_text("main")[:800]

    # Approved: the portal opens; apply to an open call with the documents it asks for.
    tab.goto("/portal")
    assert tab.locator("h1").first.inner_text() == SME_FIRM, tab.inner_text("main")[:800]
    tab.goto("/portal/calls")
    with tab.expect_navigation():
        tab.locator("main a", has_text=OPEN_CALL).first.click()
    screenshot(tab, "sme-call")
    with tab.expect_navigation():
        tab.click("main form[action$='/apply'] button[type=submit]")
    assert re.search(r"/portal/applications/\d+$", tab.url)
    application_id = tab.url.rsplit("/", 1)[-1]
    for kind, name in (
        ("business_plan", "사업계획서.pdf"),
        ("brn_certificate", "사업자등록증.pdf"),
        ("sme_certificate", "중소기업확인서.pdf"),
        ("tax_clearance", "완납증명서.pdf"),
    ):
        row = tab.locator("main details", has=tab.locator(f"input[name=kind][value={kind}]"))
        row.locator("summary").click()
        form = row.locator("form")
        form.locator("input[type=file]").set_input_files(
            files=[{"name": name, "mimeType": "application/pdf", "buffer": b"%PDF-1.4 " + kind.encode()}]
        )
        with tab.expect_navigation():
            form.locator("button[type=submit]").click()
        assert name in tab.inner_text("main"), tab.inner_text("main")[:800]
    tab.fill("textarea[name=answer_goal]", "주조 공정 불량 예측 모델 검증")
    tab.fill("textarea[name=answer_problem]", "기공 불량을 출하 뒤에야 발견함")
    with tab.expect_navigation():
        tab.click("main button[name=action][value=submit]")
    assert "제출" in tab.inner_text("main"), tab.inner_text("main")[:800]
    screenshot(tab, "sme-application-submitted")

    # The institution that runs the programme (UNIST) acts: eligibility, then a supplement request due in
    # 7 days. The coordinator of the other institution cannot even see the application.
    assert staff.goto(f"/applications/{application_id}").status == 404
    staff.context.clear_cookies()
    sign_in(staff, "coordinator2@example.com")
    due = today_kst() + timedelta(days=7)
    staff.goto(f"/applications/{application_id}")
    _move(staff, "eligibility")
    move = staff.locator("details#move-supplement_requested")
    move.locator("summary").click()
    move.locator("textarea[name=reason]").fill("사업계획서에 데이터 확보 계획을 보완해 주세요.")
    move.locator("input[name=supplement_due_on]").fill(due.isoformat())
    with staff.expect_navigation():
        move.locator("button[type=submit]").click()
    assert "보완" in staff.locator("h1").first.inner_text(), staff.inner_text("main")[:800]

    # The firm sees the new status and what is due, with D-7, and the notice reached its inbox.
    tab.goto("/portal")
    home = tab.inner_text("main")
    assert "보완" in home and "D-7" in home, home[:1500]
    screenshot(tab, "sme-portal-due")
    tab.goto(f"/portal/applications/{application_id}")
    detail = tab.inner_text("main")
    assert "데이터 확보 계획" in detail and "D-7" in detail, detail[:1500]
    wait_for(
        lambda: any("보완" in str(m["Subject"]) for m in stack.sink.to(email)),
        60,
        f"the supplement notice; got {[str(m['Subject']) for m in stack.sink.to(email)]}",
    )


def test_sme_answers_an_outcome_survey_from_the_portal_home(page) -> None:
    """태화정밀(주) closed an AI-solution adoption last programme year (demo data); its survey waits."""
    tab = page
    sign_in(tab, "firm2@example.com")
    reports = tab.locator("main section", has_text="성과 보고").last
    with tab.expect_navigation():
        reports.locator("a", has_text="성과조사 1차").first.click()
    assert re.search(r"/portal/surveys/\d+$", tab.url)
    survey_url = tab.url
    assert tab.locator("h1").first.inner_text() == "성과조사 1차"

    tab.fill("input[name=revenue_krw]", "삼십억")  # not a number: refused, the other answers kept
    tab.fill("input[name=employees]", "27")
    tab.fill("input[name=indicator_0]", "3,150,000,000")
    tab.fill("input[name=indicator_1]", "27")
    with tab.expect_navigation():
        tab.click("main button[name=action][value=submit]")
    assert tab.url == survey_url
    assert tab.locator("[aria-invalid=true]").count() >= 1, tab.inner_text("main")[:1000]
    assert tab.input_value("input[name=employees]") == "27"
    screenshot(tab, "sme-survey-error")

    tab.fill("input[name=revenue_krw]", "3,150,000,000")
    with tab.expect_navigation():
        tab.click("main button[name=action][value=submit]")
    text = tab.inner_text("main")
    assert tab.url == survey_url and "제출한 답변" in text, text[:1000]
    assert "3,150,000,000원" in text and "27" in text, text[:1000]
    screenshot(tab, "sme-survey-submitted")
    tab.goto("/portal")
    reports = tab.locator("main section", has_text="성과 보고").last.inner_text()
    assert "성과조사 1차" not in reports and "성과조사 2차" in reports, reports
