"""Demo data for `make run` and the browser tests: `flask --app wsgi seed-demo`.

Three consortia (울산, 강원, 충남) with their institutions, programme years, programmes and calls, about
310 firms with valid identifiers, and the demo accounts (password `demo-pass-2026`). Deterministic (a fixed
random seed; only call windows, certificate expiries and consent dates follow today's date so the demo
always has an open call and mostly valid certificates) and idempotent: a second run changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.auth.operations import hash_password
from crm.core.time import kst_to_utc, today_kst, utcnow
from crm.demo import data
from crm.demo.activities import seed_activities
from crm.demo.applications import ApplicationSeeder
from crm.demo.data import Industry, Region
from crm.demo.diagnosis import seed_diagnosis
from crm.demo.engagements import EngagementSeeder
from crm.demo.imports import seed_imports
from crm.demo.infrastructure import seed_infrastructure
from crm.demo.mfa import seed_mfa
from crm.demo.notices import seed_notices
from crm.demo.outcomes import seed_outcomes
from crm.demo.pipeline import seed_pipeline
from crm.demo.reminders import seed_reminders
from crm.demo.training import seed_training
from crm.extensions import db
from crm.firms.identifiers import brn_check_digit, corp_no_check_digit, hangul_initials
from crm.firms.models import BusinessStatus, Contact, Firm, FirmFinancial, FirmLink, LinkKind
from crm.notices.models import NoticeKind
from crm.notices.outbox import firm_recipients, queue_notice
from crm.notices.reminders import run_sweep
from crm.organisation.models import Consortium, Institution, InstitutionRole
from crm.programmes.models import (
    DEFAULT_COUNTING_POINT,
    DEFAULT_UNIT,
    Call,
    Programme,
    ProgrammeYear,
    TargetUnit,
    Track,
)
from crm.programmes.operations import default_sla_days, default_survey_indicators, default_survey_rounds

ULSAN = "울산 AI 사업단"
GANGWON = "강원 AI 사업단"
CHUNGNAM = "충남 AI 사업단"

# consortium -> (sido, region, [(institution, role)])
CONSORTIA: dict[str, tuple[str, Region, list[tuple[str, InstitutionRole]]]] = {
    ULSAN: (
        "31",
        data.ULSAN,
        [
            ("울산테크노파크", InstitutionRole.lead),
            ("울산정보산업진흥원", InstitutionRole.performing),
            ("UNIST", InstitutionRole.performing),
            ("울산대학교", InstitutionRole.performing),
            ("울산창조경제혁신센터", InstitutionRole.performing),
        ],
    ),
    GANGWON: (
        "51",
        data.GANGWON,
        [
            ("강원테크노파크", InstitutionRole.lead),
            ("강원정보문화산업진흥원", InstitutionRole.performing),
            ("한림대학교", InstitutionRole.performing),
        ],
    ),
    CHUNGNAM: (
        "44",
        data.CHUNGNAM,
        [
            ("충남테크노파크", InstitutionRole.lead),
            ("충남정보문화산업진흥원", InstitutionRole.performing),
            ("호서대학교", InstitutionRole.performing),
        ],
    ),
}

MILLION = 1_000_000
# Every programme year: 70억원 = 국비 42억 (60 %) + 지방비 21억 (30 %) + 자부담 7억 (10 %).
YEAR_BUDGET = (4_200, 2_100, 700)  # 백만원


@dataclass(frozen=True)
class ProgrammeSpec:
    name: str
    track: Track
    target: int
    institution: str
    budget: tuple[int, int, int]  # 국비, 지방비, 자부담 in 백만원
    per_firm_cap: int | None = None  # 백만원


# consortium -> [(ordinal, starts_on, ends_on, [programmes])]
YEARS: dict[str, list[tuple[int, date, date, list[ProgrammeSpec]]]] = {
    ULSAN: [
        (
            1,
            date(2025, 10, 1),
            date(2026, 9, 30),
            [
                ProgrammeSpec(
                    "AI 솔루션 도입", Track.adoption, 50, "울산정보산업진흥원", (1_800, 800, 400), 100
                ),
                ProgrammeSpec("기술 검증", Track.validation, 7, "UNIST", (720, 360, 120), 200),
                ProgrammeSpec("기술실증·육성", Track.incubation, 15, "울산대학교", (900, 450, 150), 50),
            ],
        ),
        (
            2,
            date(2026, 10, 1),
            date(2027, 9, 30),
            [
                ProgrammeSpec(
                    "AI 솔루션 도입", Track.adoption, 50, "울산정보산업진흥원", (1_500, 600, 400), 100
                ),
                ProgrammeSpec("역량진단·컨설팅", Track.diagnosis, 150, "울산정보산업진흥원", (300, 200, 0)),
                ProgrammeSpec("기술 검증", Track.validation, 8, "UNIST", (720, 360, 120), 200),
                ProgrammeSpec("인큐베이팅", Track.incubation, 15, "울산창조경제혁신센터", (540, 270, 90), 50),
                ProgrammeSpec("AI 교육", Track.training, 300, "울산대학교", (240, 160, 0)),
                ProgrammeSpec("GPU 인프라", Track.infrastructure, 20_000, "UNIST", (480, 240, 80)),
            ],
        ),
    ],
    GANGWON: [
        (
            1,
            date(2026, 4, 1),
            date(2027, 3, 31),
            [
                ProgrammeSpec(
                    "바이오·헬스케어 AI 솔루션 도입",
                    Track.adoption,
                    40,
                    "강원정보문화산업진흥원",
                    (1_440, 600, 360),
                    100,
                ),
                ProgrammeSpec("AI 역량진단", Track.diagnosis, 60, "한림대학교", (180, 120, 0)),
            ],
        ),
    ],
    CHUNGNAM: [
        (
            1,
            date(2026, 4, 1),
            date(2027, 3, 31),
            [
                ProgrammeSpec(
                    "디스플레이·반도체 AI 솔루션 도입",
                    Track.adoption,
                    45,
                    "충남정보문화산업진흥원",
                    (1_620, 675, 405),
                    100,
                ),
                ProgrammeSpec("기술 검증", Track.validation, 10, "호서대학교", (900, 450, 150), 200),
            ],
        ),
    ],
}

EXCLUSIVITY_YEARS = {Track.adoption: 3, Track.validation: 3, Track.incubation: 3, Track.infrastructure: 1}
REVIEW_STAGES = {
    Track.adoption: data.TWO_STAGE_REVIEW,
    Track.validation: data.TWO_STAGE_REVIEW,
    Track.incubation: data.TWO_STAGE_REVIEW,
    Track.infrastructure: ["document_review"],
}
MILESTONES = {
    Track.adoption: data.MILESTONES_FUNDED,
    Track.validation: data.MILESTONES_FUNDED,
    Track.incubation: data.MILESTONES_INCUBATION,
    Track.diagnosis: data.MILESTONES_DIAGNOSIS,
    Track.consulting: data.MILESTONES_DIAGNOSIS,
    Track.training: data.MILESTONES_TRAINING,
    Track.infrastructure: data.MILESTONES_INFRASTRUCTURE,
}
ELIGIBILITY_EXTRA = {
    Track.adoption: "수요기업은 공급기업과 함께 신청해야 하며, 기업당 지원 한도는 1억원입니다.",
    Track.validation: "지역 GPU 센터를 활용한 PoC 계획을 갖춘 기업.",
    Track.incubation: "창업 7년 이내의 AI 기반 기업 또는 예비창업자.",
    Track.diagnosis: "AI 도입을 검토 중인 제조·서비스 중소기업 (자부담 없음).",
}

# (consortium, track, opens in days from today, closes in days from today, capacity). The dates follow
# today so that whoever runs the demo finds calls closed, open and upcoming; each call belongs to the
# programme of its track in the programme year around its opening day, and its cohort label ("2026-2차")
# counts the programme's calls opening in the same calendar year.
CALLS: list[tuple[str, Track, int, int, int]] = [
    (ULSAN, Track.adoption, -75, -45, 30),  # closed
    (ULSAN, Track.incubation, -60, -30, 15),  # closed
    (ULSAN, Track.adoption, -40, -20, 25),  # closed
    (ULSAN, Track.adoption, -14, 21, 20),  # open
    (ULSAN, Track.validation, -14, 21, 7),  # open
    (ULSAN, Track.diagnosis, 30, 90, 80),  # upcoming
    (ULSAN, Track.adoption, 45, 75, 25),  # upcoming
    (GANGWON, Track.diagnosis, -50, -20, 60),  # closed
    (GANGWON, Track.adoption, -14, 21, 40),  # open
    (CHUNGNAM, Track.adoption, -14, 21, 45),  # open
    (CHUNGNAM, Track.validation, 14, 44, 10),  # upcoming
]

# (email, name, role, consortium, institution, firm)
USERS: list[tuple[str, str, Role, str | None, str | None, str | None]] = [
    ("admin@example.com", "관리자", Role.admin, None, None, None),
    ("manager@example.com", "김총괄", Role.consortium_manager, ULSAN, None, None),
    ("coordinator@example.com", "이수행", Role.coordinator, ULSAN, "울산정보산업진흥원", None),
    ("coordinator2@example.com", "박연구", Role.coordinator, ULSAN, "UNIST", None),
    ("evaluator@example.com", "최평가", Role.evaluator, None, None, None),
    ("viewer@example.com", "정중기", Role.national_viewer, None, None, None),
    ("firm@example.com", "한기업", Role.firm_user, None, None, "(주)울산스마트팩토리"),
    ("firm2@example.com", "오대표", Role.firm_user, None, None, "태화정밀(주)"),
    ("manager.gangwon@example.com", "윤재민", Role.consortium_manager, GANGWON, None, None),
    ("manager.chungnam@example.com", "서정우", Role.consortium_manager, CHUNGNAM, None, None),
]
# Firms linked to a given institution (the demo firm users' firms belong to coordinator@example.com's).
FIXED_LINK_INSTITUTION = {"(주)울산스마트팩토리": "울산정보산업진흥원", "태화정밀(주)": "울산정보산업진흥원"}


def seed_demo() -> bool:
    """Loads the demo data; returns False (and changes nothing) when it is already there."""
    if db.session.scalar(sa.select(Consortium.id).where(Consortium.name == ULSAN)) is not None:
        return False
    rng = random.Random(data.SEED)
    now = utcnow()
    today = today_kst(now)

    consortia, institutions = _organisations()
    db.session.add_all(consortia.values())
    db.session.flush()  # FirmLink needs consortium ids

    programmes = _programmes(consortia, institutions)
    calls = _calls(programmes, today)
    firms = FirmMaker(rng, now, today, consortia, institutions).make_all()
    users = _users(consortia, institutions, {firm.name: firm for firm in firms})

    db.session.add_all([*programmes.values(), *calls, *firms, *users])
    db.session.flush()
    ApplicationSeeder(rng, now, today).seed(calls, {firm.name: firm for firm in firms})
    EngagementSeeder(rng, today).seed()
    for seed_feature in (
        seed_pipeline,
        seed_activities,
        seed_outcomes,
        seed_training,
        seed_infrastructure,
        seed_diagnosis,
        seed_notices,
        seed_reminders,
        seed_imports,
        seed_mfa,
    ):
        seed_feature(rng, today)
    _welcome_notice()
    db.session.commit()
    # Today's reminders, as the 09:00 KST sweep would send them: the history above stops at yesterday, and
    # without a run the staff pages would warn from the first minute that the daily sweep never ran.
    run_sweep(today)
    return True


def _welcome_notice() -> None:
    """One notice the worker delivers on `make run` (into instance/outbox/ without SMTP_URL)."""
    firms = db.session.scalars(sa.select(Firm).where(Firm.name.in_(FIXED_LINK_INSTITUTION))).all()
    recipients = [recipient for firm in firms for recipient in firm_recipients(firm)]
    queue_notice(
        kind=NoticeKind.cohort,
        subject="[AX CRM] 2026년 하반기 AI 솔루션 도입 지원사업 안내",
        body="AX CRM 포털에서 모집 중인 공고와 우리 기업의 지원과제 일정을 확인하세요.",
        recipients=recipients,
        audience={"source": "demo"},
    )


# --- organisations and programmes -------------------------------------------------------------------


def _organisations() -> tuple[dict[str, Consortium], dict[tuple[str, str], Institution]]:
    consortia: dict[str, Consortium] = {}
    institutions: dict[tuple[str, str], Institution] = {}
    for name, (sido, _region, members) in CONSORTIA.items():
        consortium = Consortium(name=name, sido_code=sido)
        consortia[name] = consortium
        for institution_name, role in members:
            institutions[name, institution_name] = Institution(
                consortium=consortium, name=institution_name, role=role
            )
    return consortia, institutions


def _won(millions: int | None) -> int | None:
    return None if millions is None else millions * MILLION


def _programmes(
    consortia: dict[str, Consortium], institutions: dict[tuple[str, str], Institution]
) -> dict[tuple[str, int, str], Programme]:
    programmes: dict[tuple[str, int, str], Programme] = {}
    for consortium_name, years in YEARS.items():
        for ordinal, starts_on, ends_on, specs in years:
            gov, local, own = (_won(amount) for amount in YEAR_BUDGET)
            year = ProgrammeYear(
                consortium=consortia[consortium_name],
                ordinal=ordinal,
                starts_on=starts_on,
                ends_on=ends_on,
                budget_gov_krw=gov,
                budget_local_krw=local,
                budget_self_krw=own,
            )
            for spec in specs:
                programmes[consortium_name, ordinal, spec.name] = _programme(
                    year, institutions[consortium_name, spec.institution], spec
                )
    return programmes


def _programme(year: ProgrammeYear, institution: Institution, spec: ProgrammeSpec) -> Programme:
    gov, local, own = spec.budget
    total = gov + local + own
    assert gov * 100 <= 60 * total and local * 100 >= 20 * total, spec.name  # the funding split
    return Programme(
        programme_year=year,
        institution=institution,
        name=spec.name,
        track=spec.track,
        target=spec.target,
        unit=DEFAULT_UNIT.get(spec.track, TargetUnit.firms),
        counting_point=DEFAULT_COUNTING_POINT[spec.track],
        budget_gov_krw=_won(gov),
        budget_local_krw=_won(local),
        budget_self_krw=_won(own),
        per_firm_cap_krw=_won(spec.per_firm_cap),
        exclusivity_years=EXCLUSIVITY_YEARS.get(spec.track, 0),
        requires_sme_certificate=spec.track in (Track.adoption, Track.validation),
        excluded_ksic_prefixes=["56", "68"] if spec.track is Track.adoption else [],  # 음식점, 부동산
        review_stages=list(REVIEW_STAGES.get(spec.track, [])),
        milestone_templates=[dict(template) for template in MILESTONES[spec.track]],
        sla_days=default_sla_days(spec.track),
        survey_rounds=default_survey_rounds(spec.track),
        survey_indicators=default_survey_indicators(spec.track),
    )


def _calls(programmes: dict[tuple[str, int, str], Programme], today: date) -> list[Call]:
    calls = []
    rounds: dict[tuple[int, int], int] = {}  # (programme, calendar year) -> calls so far
    for consortium_name, track, opens_in, closes_in, capacity in sorted(CALLS, key=lambda c: c[2]):
        opens_on = today + timedelta(days=opens_in)
        programme = _programme_for(programmes, consortium_name, track, opens_on)
        region = CONSORTIA[consortium_name][1]
        key = (id(programme), opens_on.year)
        rounds[key] = number = rounds.get(key, 0) + 1
        region_short = consortium_name.split()[0]
        documents = data.REQUIRED_DOCUMENTS if track is not Track.diagnosis else data.REQUIRED_DOCUMENTS[1:2]
        questions = data.QUESTIONS if track is not Track.diagnosis else data.QUESTIONS[:3]
        calls.append(
            Call(
                programme=programme,
                title=f"{opens_on.year}년 {region_short} {programme.name} 지원사업 {number}차 참여기업 모집",
                cohort=f"{opens_on.year}-{number}차",
                opens_at=kst_to_utc(opens_on, time(9, 0)),
                closes_at=kst_to_utc(today + timedelta(days=closes_in), time(18, 0)),
                capacity=capacity,
                eligibility_text=data.eligibility_text(region.sido_name, ELIGIBILITY_EXTRA.get(track, "")),
                required_documents=[dict(document) for document in documents],
                questions=[dict(question) for question in questions],
            )
        )
    return calls


def _programme_for(
    programmes: dict[tuple[str, int, str], Programme], consortium_name: str, track: Track, day: date
) -> Programme:
    """The consortium's programme of `track` in the programme year nearest to `day` (0 days if inside)."""

    def distance(programme: Programme) -> int:
        year = programme.programme_year
        return max((year.starts_on - day).days, (day - year.ends_on).days, 0)

    candidates = [p for (c, _, _), p in programmes.items() if c == consortium_name and p.track is track]
    return min(candidates, key=distance)


# --- firms --------------------------------------------------------------------------------------------


class FirmMaker:
    """Makes every region's firms from one random generator, so the result is the same on every run."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        today: date,
        consortia: dict[str, Consortium],
        institutions: dict[tuple[str, str], Institution],
    ) -> None:
        self.rng = rng
        self.now = now
        self.today = today
        self.consortia = consortia
        self.institutions = institutions
        self.brns: set[str] = set()
        self.bases: set[str] = set()
        self.surnames = [(korean, roman) for korean, roman, _ in data.SURNAMES]
        self.surname_weights = [weight for _, _, weight in data.SURNAMES]

    def make_all(self) -> list[Firm]:
        firms = []
        for _region_key, name, *_rest in data.FIXED_FIRMS:
            self.bases.add(_base_name(name))
        for fixed in data.FIXED_FIRMS:
            firms.append(self._fixed(*fixed))
        for consortium_name, (_sido, region, _members) in CONSORTIA.items():
            fixed_here = sum(1 for fixed in data.FIXED_FIRMS if fixed[0] == region.key)
            for _ in range(region.firm_count - fixed_here):
                firms.append(self._random(consortium_name, region))
        return firms

    # one firm

    def _fixed(
        self,
        region_key: str,
        name: str,
        roman: str,
        sigungu: str,
        ksic: str,
        corp: bool,
        employees: int,
        solutions: str,
    ) -> Firm:
        consortium_name, region = next((c, r) for c, (_, r, _) in CONSORTIA.items() if r.key == region_key)
        industry = next((i for i in region.industries if ksic in i.ksic_codes), region.industries[0])
        return self._firm(
            consortium_name,
            region,
            industry,
            name,
            roman,
            sigungu,
            ksic,
            corp,
            employees,
            solutions=solutions,
            status=BusinessStatus.active,
            sme_expires=self.today + timedelta(days=300),
            institution=FIXED_LINK_INSTITUTION.get(name),
        )

    def _random(self, consortium_name: str, region: Region) -> Firm:
        rng = self.rng
        industry = rng.choices(region.industries, weights=[i.weight for i in region.industries])[0]
        corp = rng.random() < 0.75
        base, roman = self._unique_name(region, industry)
        if corp:
            form = rng.random()
            name = f"(주){base}" if form < 0.5 else f"{base}(주)" if form < 0.8 else f"주식회사 {base}"
        else:
            name = base
        if industry.sigungu and rng.random() < 0.7:
            sigungu = rng.choice(industry.sigungu)
        else:
            sigungu = rng.choice(list(region.sigungu))
        roll = rng.random()
        if not corp:
            employees = rng.randint(2, 30)
        elif roll < 0.80:
            employees = rng.randint(5, 50)
        elif roll < 0.95:
            employees = rng.randint(51, 150)
        else:
            employees = rng.randint(151, 300)
        solutions = ""
        if rng.random() < industry.supplier_share:
            solutions = ", ".join(rng.sample(data.SOLUTIONS, k=rng.randint(1, 3)))
        roll = rng.random()
        status = (
            BusinessStatus.active
            if roll < 0.95
            else BusinessStatus.suspended
            if roll < 0.98
            else BusinessStatus.closed
        )
        roll = rng.random()
        if roll < 0.78:
            sme_expires: date | None = self.today + timedelta(days=rng.randint(30, 700))
        elif roll < 0.89:
            sme_expires = self.today - timedelta(days=rng.randint(5, 300))
        else:
            sme_expires = None
        return self._firm(
            consortium_name,
            region,
            industry,
            name,
            roman,
            sigungu,
            rng.choice(industry.ksic_codes),
            corp,
            employees,
            solutions=solutions,
            status=status,
            sme_expires=sme_expires,
            institution=None,
        )

    def _firm(
        self,
        consortium_name: str,
        region: Region,
        industry: Industry,
        name: str,
        roman: str,
        sigungu: str,
        ksic: str,
        corp: bool,
        employees: int,
        *,
        solutions: str,
        status: BusinessStatus,
        sme_expires: date | None,
        institution: str | None,
    ) -> Firm:
        rng = self.rng
        sigungu_name, roads = region.sigungu[sigungu]
        address = f"{region.sido_name} {sigungu_name} {rng.choice(roads)} {rng.randint(1, 320)}"
        if rng.random() < 0.25:
            address += f", {rng.randint(2, 9)}층"
        founded_year = round(rng.triangular(1986, 2024, 2014))
        firm = Firm(
            brn=self._brn(region, corp),
            corp_no=self._corp_no(region) if corp else None,
            name=name,
            name_initials=hangul_initials(name),
            ceo_name=self._person(data.SENIOR_GIVEN_NAMES)[0],
            founded_on=date(founded_year, rng.randint(1, 12), rng.randint(1, 28)),
            address=address,
            sido_code=region.sido_code,
            sigungu_code=sigungu,
            ksic_code=ksic,
            ksic_revision=11,
            employees=employees,
            sme_certificate_expires_on=sme_expires,
            business_status=status,
            business_status_checked_at=self.now
            - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 23)),
            is_supplier=bool(solutions),
            solutions_offered=solutions,
        )
        firm.financials = self._financials(industry, employees)
        firm.contacts = self._contacts(firm.ceo_name, roman)
        firm.links = [
            FirmLink(
                consortium_id=self.consortia[consortium_name].id,
                institution_id=self._institution(consortium_name, institution).id,
                kind=LinkKind.registered,
                created_at=self.now - timedelta(days=rng.randint(1, 180)),
            )
        ]
        return firm

    # parts

    def _unique_name(self, region: Region, industry: Industry) -> tuple[str, str]:
        rng = self.rng
        for _ in range(200):
            prefix = rng.choice(region.prefixes)
            word = rng.choice(industry.words)
            tech = rng.choice(data.TECH_WORDS) if rng.random() < 0.3 else ("", "")
            if tech[0] and tech[0] in word[0]:
                tech = ("", "")
            base = prefix[0] + tech[0] + word[0]
            if base not in self.bases:
                self.bases.add(base)
                return base, prefix[1] + tech[1] + word[1]
        raise RuntimeError(f"ran out of firm names for {region.key} {industry.key}")

    def _brn(self, region: Region, corp: bool) -> str:
        rng = self.rng
        while True:
            kind = rng.choice(("81", "81", "81", "86", "87")) if corp else f"{rng.randint(1, 79):02d}"
            first_nine = f"{rng.choice(region.tax_offices):03d}{kind}{rng.randint(0, 9999):04d}"
            brn = first_nine + str(brn_check_digit(first_nine))
            if brn not in self.brns:
                self.brns.add(brn)
                return brn

    def _corp_no(self, region: Region) -> str:
        first_twelve = f"{self.rng.choice(region.registry_offices)}11{self.rng.randint(0, 999_999):06d}"
        return first_twelve + str(corp_no_check_digit(first_twelve))

    def _person(self, given_names: tuple[data.Word, ...]) -> tuple[str, str]:
        """(Korean name, e-mail local part)"""
        surname = self.rng.choices(self.surnames, weights=self.surname_weights)[0]
        given = self.rng.choice(given_names)
        return surname[0] + given[0], f"{given[1]}.{surname[1]}"

    def _financials(self, industry: Industry, employees: int) -> list[FirmFinancial]:
        rng = self.rng
        per_head = rng.uniform(1.2, 4.0) * 100 * MILLION
        if industry.key in ("it", "biorandd"):
            per_head *= 0.5
        exporter = industry.key != "it" and rng.random() < 0.35
        revenue = employees * per_head * rng.uniform(0.7, 1.3)
        rows = []
        for year in (2024, 2025):
            revenue_krw = max(round(revenue, -6), 50 * MILLION)
            rows.append(
                FirmFinancial(
                    year=year,
                    revenue_krw=revenue_krw,
                    assets_krw=round(revenue_krw * rng.uniform(0.5, 1.3), -6),
                    exports_krw=round(revenue_krw * rng.uniform(0.05, 0.5), -6) if exporter else 0,
                )
            )
            revenue *= rng.uniform(0.88, 1.25)
        return rows

    def _contacts(self, ceo_name: str, roman: str) -> list[Contact]:
        rng = self.rng
        contacts = []
        for index in range(1 if rng.random() < 0.55 else 2):
            name, local = self._person(data.JUNIOR_GIVEN_NAMES)
            position = rng.choice(data.CONTACT_POSITIONS)
            if index == 0 and rng.random() < 0.25:
                name, position, local = ceo_name, "대표", "ceo"
            consent = self.now - timedelta(days=rng.randint(10, 400))
            contacts.append(
                Contact(
                    name=name,
                    position=position,
                    phone=f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}",
                    email=f"{local}{index or ''}@{roman}.{data.EMAIL_DOMAIN}",
                    is_primary=index == 0,
                    consent_privacy_at=consent,
                    consent_admin_info_at=consent if rng.random() < 0.7 else None,
                    consent_marketing_at=consent if rng.random() < 0.3 else None,
                )
            )
        return contacts

    def _institution(self, consortium_name: str, name: str | None) -> Institution:
        if name is not None:
            return self.institutions[consortium_name, name]
        members = [inst for (c, _), inst in self.institutions.items() if c == consortium_name]
        # The first performing institution (the 정보산업진흥원) registers most of the firms.
        weights = [3 if i == 1 else 1 for i in range(len(members))]
        return self.rng.choices(members, weights=weights)[0]


def _base_name(name: str) -> str:
    return name.replace("(주)", "").replace("주식회사", "").strip()


# --- users --------------------------------------------------------------------------------------------


def _users(
    consortia: dict[str, Consortium],
    institutions: dict[tuple[str, str], Institution],
    firms_by_name: dict[str, Firm],
) -> list[User]:
    password_hash = hash_password(data.PASSWORD)  # once: hashing is deliberately slow
    now = utcnow()
    users = []
    for email, name, role, consortium, institution, firm in USERS:
        values: dict[str, Any] = {}
        if consortium is not None:
            values["consortium"] = consortia[consortium]
        if institution is not None:
            values["institution"] = institutions[consortium, institution]
        if firm is not None:
            values["firm"] = firms_by_name[firm]
        users.append(
            User(
                email=email,
                name=name,
                role=role,
                password_hash=password_hash,
                password_changed_at=now,
                email_verified_at=now,
                **values,
            )
        )
    return users
