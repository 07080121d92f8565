from __future__ import annotations

import random
import re
from collections import Counter

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from crm import create_app
from crm.auth.models import Role, User
from crm.core.time import today_kst, utcnow
from crm.demo import data
from crm.demo.seed import CHUNGNAM, GANGWON, ULSAN, FirmMaker, _organisations, seed_demo
from crm.extensions import db, limiter
from crm.firms.identifiers import hangul_initials, normalize_brn, normalize_corp_no
from crm.firms.models import BusinessStatus, Firm, FirmLink, LinkKind
from crm.organisation.models import Consortium, Institution, InstitutionRole
from crm.programmes.models import Call, Programme, ProgrammeYear, TargetUnit, Track

PHONE = re.compile(r"^010-\d{4}-\d{4}$")


def _count(entity) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(entity))


def _consortium(name: str) -> Consortium:
    return db.session.scalar(sa.select(Consortium).where(Consortium.name == name))


def _firms_of(consortium: Consortium) -> list[Firm]:
    return list(
        db.session.scalars(
            sa.select(Firm).join(FirmLink).where(FirmLink.consortium_id == consortium.id).distinct()
        )
    )


def _split_ok(item) -> bool:
    total = item.budget_total_krw
    return total > 0 and item.budget_gov_krw * 100 <= 60 * total and item.budget_local_krw * 100 >= 20 * total


@pytest.fixture
def seeded(app):
    assert seed_demo() is True


def test_three_consortia_with_their_institutions(seeded):
    assert _count(Consortium) == 3
    ulsan = _consortium(ULSAN)
    assert ulsan.sido_code == "31"
    assert ulsan.lead_institution.name == "울산테크노파크"
    assert {i.name for i in ulsan.institutions if i.role is InstitutionRole.performing} == {
        "울산정보산업진흥원",
        "UNIST",
        "울산대학교",
        "울산창조경제혁신센터",
    }
    assert _consortium(GANGWON).sido_code == "51"
    assert _consortium(CHUNGNAM).sido_code == "44"
    for name in (GANGWON, CHUNGNAM):
        assert _consortium(name).lead_institution is not None


def test_about_300_firms_spread_over_the_regions(seeded):
    assert _count(Firm) >= 300
    assert len(_firms_of(_consortium(ULSAN))) >= 120
    assert len(_firms_of(_consortium(GANGWON))) >= 80
    assert len(_firms_of(_consortium(CHUNGNAM))) >= 90


def test_ulsan_programme_years_and_targets(seeded):
    ulsan = _consortium(ULSAN)
    years = {year.ordinal: year for year in ulsan.programme_years}
    assert (years[1].starts_on.isoformat(), years[1].ends_on.isoformat()) == ("2025-10-01", "2026-09-30")
    assert (years[2].starts_on.isoformat(), years[2].ends_on.isoformat()) == ("2026-10-01", "2027-09-30")
    targets = {
        ordinal: {p.name: (p.track, p.target, p.unit) for p in year.programmes}
        for ordinal, year in years.items()
    }
    assert targets[1] == {
        "AI 솔루션 도입": (Track.adoption, 50, TargetUnit.firms),
        "기술 검증": (Track.validation, 7, TargetUnit.firms),
        "기술실증·육성": (Track.incubation, 15, TargetUnit.firms),
    }
    assert targets[2] == {
        "AI 솔루션 도입": (Track.adoption, 50, TargetUnit.firms),
        "역량진단·컨설팅": (Track.diagnosis, 150, TargetUnit.firms),
        "기술 검증": (Track.validation, 8, TargetUnit.firms),
        "인큐베이팅": (Track.incubation, 15, TargetUnit.firms),
        "AI 교육": (Track.training, 300, TargetUnit.people),
        "GPU 인프라": (Track.infrastructure, 20_000, TargetUnit.gpu_hours),
    }
    incubation = next(p for p in years[2].programmes if p.name == "인큐베이팅")
    assert incubation.institution.name == "울산창조경제혁신센터"


def test_programmes_carry_rules_and_milestone_templates(seeded):
    for programme in db.session.scalars(sa.select(Programme)):
        assert programme.milestone_templates, programme.name
        for template in programme.milestone_templates:
            assert template["anchor"] in {"start", "mid", "end", "closed"}
            assert template["owner"] in {"staff", "firm"}
            assert isinstance(template["offset_days"], int)
        if programme.track is Track.adoption:
            assert programme.per_firm_cap_krw == 100_000_000
            assert programme.exclusivity_years == 3
            assert programme.review_stages == ["document_review", "presentation"]
        if programme.track in (Track.diagnosis, Track.training):
            assert programme.exclusivity_years == 0


def test_budgets_respect_the_funding_split_and_the_year_budget(seeded):
    years = list(db.session.scalars(sa.select(ProgrammeYear)))
    assert len(years) == 4
    for year in years:
        assert _split_ok(year), year
        assert 6_000_000_000 <= year.budget_total_krw <= 8_000_000_000
        assert year.programmes
        for programme in year.programmes:
            assert _split_ok(programme), programme.name
        for source in ("budget_gov_krw", "budget_local_krw", "budget_self_krw"):
            assert sum(getattr(p, source) for p in year.programmes) <= getattr(year, source)


def test_calls_closed_open_and_upcoming(seeded):
    calls = list(db.session.scalars(sa.select(Call)))
    now = utcnow()
    assert any(call.is_open() for call in calls)
    assert any(call.closes_at <= now for call in calls)
    assert any(call.opens_at > now for call in calls)
    open_ulsan = [c for c in calls if c.is_open() and c.programme.consortium_id == _consortium(ULSAN).id]
    assert open_ulsan
    for call in calls:
        assert re.fullmatch(r"\d{4}-\d차", call.cohort)
        assert call.capacity > 0
        assert call.eligibility_text
        assert call.required_documents and all({"kind", "label"} <= set(d) for d in call.required_documents)
        assert call.questions and all({"key", "label", "required"} <= set(q) for q in call.questions)


def test_every_firm_has_valid_unique_identifiers(seeded):
    firms = list(db.session.scalars(sa.select(Firm)))
    brns = [firm.brn for firm in firms]
    assert len(set(brns)) == len(brns)
    assert len({firm.name for firm in firms}) == len(firms)
    for firm in firms:
        assert normalize_brn(firm.brn) == firm.brn
        if firm.corp_no is not None:
            assert normalize_corp_no(firm.corp_no) == firm.corp_no
            assert firm.brn[3:5] in {"81", "86", "87"}
        else:
            assert 1 <= int(firm.brn[3:5]) <= 79
        assert firm.name_initials == hangul_initials(firm.name)


def test_firm_profiles_are_consistent_and_realistic(seeded):
    firms = list(db.session.scalars(sa.select(Firm)))
    sido_names = {region.sido_code: region.sido_name for region in data.REGIONS}
    for firm in firms:
        assert firm.sigungu_code.startswith(firm.sido_code)
        assert firm.address.startswith(sido_names[firm.sido_code])
        assert firm.ksic_revision == 11 and re.fullmatch(r"\d{5}", firm.ksic_code)
        assert 1 <= firm.employees <= 300
        assert firm.ceo_name and firm.founded_on
        assert sorted(f.year for f in firm.financials) == [2024, 2025]
        assert all(f.revenue_krw > 0 for f in firm.financials)
        assert 1 <= len(firm.contacts) <= 2
        for contact in firm.contacts:
            assert PHONE.match(contact.phone) and "@" in contact.email
            assert contact.consent_privacy_at is not None
        (link,) = [link for link in firm.links if link.kind is LinkKind.registered]
        consortium = db.session.get(Consortium, link.consortium_id)
        assert consortium.sido_code == firm.sido_code
        assert db.session.get(Institution, link.institution_id).consortium_id == consortium.id
    today = today_kst()
    suppliers = [firm for firm in firms if firm.is_supplier]
    assert 0.05 * len(firms) <= len(suppliers) <= 0.2 * len(firms)
    assert all(firm.solutions_offered for firm in suppliers)
    statuses = Counter(firm.business_status for firm in firms)
    assert statuses[BusinessStatus.active] >= 0.9 * len(firms)
    assert statuses[BusinessStatus.suspended] + statuses[BusinessStatus.closed] > 0
    expired = [f for f in firms if f.sme_certificate_expires_on and not f.sme_certificate_valid_on(today)]
    assert 0.03 * len(firms) <= len(expired) <= 0.2 * len(firms)
    assert any(firm.sme_certificate_expires_on is None for firm in firms)
    assert sum(1 for f in firms if 5 <= f.employees <= 50) >= 0.6 * len(firms)


def test_the_readme_firm_is_found_by_its_initials(seeded):
    firm = db.session.scalar(sa.select(Firm).where(Firm.name == "(주)울산스마트팩토리"))
    assert (firm.sido_code, firm.sigungu_code) == ("31", "31140")
    assert firm.name_initials.startswith("ㅇㅅ")


EXPECTED_USERS = {
    "admin@example.com": (Role.admin, None, None, None),
    "manager@example.com": (Role.consortium_manager, ULSAN, None, None),
    "coordinator@example.com": (Role.coordinator, ULSAN, "울산정보산업진흥원", None),
    "coordinator2@example.com": (Role.coordinator, ULSAN, "UNIST", None),
    "evaluator@example.com": (Role.evaluator, None, None, None),
    "viewer@example.com": (Role.national_viewer, None, None, None),
    "firm@example.com": (Role.firm_user, None, None, "(주)울산스마트팩토리"),
    "firm2@example.com": (Role.firm_user, None, None, "태화정밀(주)"),
    "manager.gangwon@example.com": (Role.consortium_manager, GANGWON, None, None),
    "manager.chungnam@example.com": (Role.consortium_manager, CHUNGNAM, None, None),
}


def test_demo_accounts_with_roles_scopes_and_password(seeded):
    users = {user.email: user for user in db.session.scalars(sa.select(User))}
    assert set(users) == set(EXPECTED_USERS)
    for email, (role, consortium, institution, firm) in EXPECTED_USERS.items():
        user = users[email]
        assert user.role is role, email
        assert (user.consortium.name if user.consortium else None) == consortium, email
        assert (user.institution.name if user.institution else None) == institution, email
        assert (user.firm.name if user.firm else None) == firm, email
        assert user.is_active
        assert check_password_hash(user.password_hash, "demo-pass-2026"), email
    assert users["manager@example.com"].scope_consortium_id == _consortium(ULSAN).id
    assert users["coordinator2@example.com"].scope_consortium_id == _consortium(ULSAN).id
    firm_users = [users["firm@example.com"], users["firm2@example.com"]]
    assert firm_users[0].firm_id != firm_users[1].firm_id
    for user in firm_users:
        assert user.firm.sido_code == "31"
        # the two demo firms are registered by coordinator@example.com's institution
        registered = [link for link in user.firm.links if link.kind is LinkKind.registered]
        coordinator = users["coordinator@example.com"]
        assert {link.institution_id for link in registered} == {coordinator.institution_id}


def test_applications_at_every_stage_with_documents_history_and_engagements(seeded):
    from crm.applications.models import Application, ApplicationStatus
    from crm.engagements.models import Engagement

    applications = db.session.scalars(sa.select(Application)).all()
    statuses = Counter(a.status for a in applications)
    for status in ApplicationStatus:
        if status not in (ApplicationStatus.presentation, ApplicationStatus.document_review):
            assert statuses[status] >= 1, status
    for application in applications:
        assert application.history[0].to_status is ApplicationStatus.draft
        assert application.history[-1].to_status is application.status
        if application.status is not ApplicationStatus.draft:
            assert not application.missing_document_kinds
    selected = [a for a in applications if a.status is ApplicationStatus.selected]
    engaged = set(
        db.session.scalars(sa.select(Engagement.application_id).where(Engagement.application_id.is_not(None)))
    )
    assert {a.id for a in selected} == engaged
    demo_firm = db.session.scalar(sa.select(User).where(User.email == "firm@example.com")).firm
    own = [a for a in applications if a.firm_id == demo_firm.id]
    assert any(a.status is ApplicationStatus.supplement_requested and a.supplement_due_on for a in own)


def test_second_run_changes_nothing(seeded):
    counts = {table.name: _count(table) for table in db.metadata.sorted_tables}
    assert seed_demo() is False
    assert {table.name: _count(table) for table in db.metadata.sorted_tables} == counts


def test_firms_are_the_same_on_every_run(app):
    def names_and_brns() -> list[tuple[str, str]]:
        consortia, institutions = _organisations()
        maker = FirmMaker(random.Random(data.SEED), utcnow(), today_kst(), consortia, institutions)
        return [(firm.name, firm.brn) for firm in maker.make_all()]

    assert names_and_brns() == names_and_brns()


def test_cli_loads_the_demo_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "demo data loaded" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert _count(Consortium) == 3


def test_cli_refuses_under_the_production_configuration(app, monkeypatch):
    monkeypatch.setenv("CRM_CONFIG", "production")
    enabled = limiter.enabled  # create_app() re-binds the shared limiter; give the test app its state back
    try:
        production = create_app(
            SECRET_KEY="s" * 40, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"]
        )
        assert production.config["ENV_NAME"] == "production"
        with production.app_context():
            result = production.test_cli_runner().invoke(args=["seed-demo"])
    finally:
        limiter.enabled = enabled
    assert result.exit_code != 0
    assert "refuses to run under the production configuration" in result.output
    assert _count(Consortium) == 0
