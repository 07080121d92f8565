"""A national-scale data set for the benchmarks, loaded into PostgreSQL by COPY.

    python -m bench.generate [--database axcrm_bench] [--scale 1.0] [--seed 2026]

Drops and recreates the database, builds the schema with the app's own migrations, creates the reference
data through the ORM (7 consortia with institutions and staff, programme years starting in 2025 and 2026
with a programme per track, calls), then streams the big tables through `COPY … FROM STDIN`: at scale 1.0
100,000 firms, 300,000 applications, 150,000 engagements, 1,000,000 milestones and 2,000,000 activities,
with the links, contacts, financials, status history, GPU grants and training attendance the pages and the
dashboard read. Dates follow the day it runs (calls open, under review and decided; milestones done in the
past, due in the future, some overdue), so a load made today looks like a live system today.

Everything is planned in memory from one seeded random generator, then written table by table; the values
are the ones the models store (enum values as strings, UTC timestamps, KST calendar dates).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from bisect import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.common import BENCH_DATABASE, ROOT, bench_app, rolled_back, sign_in

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
READY_FILE = Path(os.environ.get("BENCH_READY_FILE", "/tmp/h/bench_ready"))

PASSWORD = "demo-pass-2026"  # every bench account, as in the demo
ADMIN = "admin@bench.example.com"
VIEWER = "viewer@bench.example.com"
MILLION = 1_000_000
MAN = 10_000  # 만원: amounts are kept in whole 만원
KST_OFFSET = timedelta(hours=9)  # Asia/Seoul has no daylight saving time: a fixed offset is exact

# The tables loaded by COPY (their foreign keys and plain indexes are rebuilt after the load).
BULK_TABLES = (
    "firms",
    "firm_financials",
    "contacts",
    "users",
    "applications",
    "application_history",
    "engagements",
    "engagement_history",
    "firm_links",
    "milestones",
    "activities",
    "gpu_allocations",
    "training_sessions",
    "training_registrations",
)

# Sizes at scale 1.0 (issue 10).
FIRMS = 100_000
APPLICATIONS = 300_000
ENGAGEMENTS = 150_000
MILESTONES = 1_000_000
ACTIVITIES = 2_000_000


def database_url(name: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def libpq_url(name: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


# --- the world: consortia, institutions, tracks ------------------------------------------------------------


@dataclass(frozen=True)
class ConsortiumSpec:
    key: str  # for e-mail addresses
    name: str
    sido_code: str
    start_month: int  # the month its programme years start (a 연차 is not a calendar year)
    weight: float  # share of the firms
    institutions: tuple[tuple[str, str], ...]  # (name, role); the first is the lead
    tax_offices: tuple[int, ...]
    prefixes: tuple[str, ...]
    specialties: tuple[str, ...]  # industry keys over-represented in the region


CONSORTIA: tuple[ConsortiumSpec, ...] = (
    ConsortiumSpec(
        "ulsan",
        "울산 AI 사업단",
        "31",
        10,
        0.13,
        (
            ("울산테크노파크", "lead"),
            ("울산정보산업진흥원", "performing"),
            ("UNIST", "performing"),
            ("울산대학교", "performing"),
            ("울산창조경제혁신센터", "performing"),
        ),
        (610, 620, 611),
        ("울산", "태화", "삼산", "방어", "문수", "온산", "언양", "울주", "처용", "동해", "한빛", "세진"),
        ("auto", "ship", "chemical"),
    ),
    ConsortiumSpec(
        "gangwon",
        "강원 AI 사업단",
        "51",
        4,
        0.11,
        (
            ("강원테크노파크", "lead"),
            ("강원정보문화산업진흥원", "performing"),
            ("한림대학교", "performing"),
            ("강원대학교", "performing"),
        ),
        (221, 224, 226, 222),
        ("강원", "춘천", "원주", "강릉", "설악", "치악", "소양", "대관령", "경포", "오대", "봄내", "청록"),
        ("meddevice", "bio", "food"),
    ),
    ConsortiumSpec(
        "chungnam",
        "충남 AI 사업단",
        "44",
        4,
        0.15,
        (
            ("충남테크노파크", "lead"),
            ("충남정보문화산업진흥원", "performing"),
            ("호서대학교", "performing"),
            ("순천향대학교", "performing"),
        ),
        (312, 311, 316, 318),
        ("충남", "천안", "아산", "서산", "당진", "탕정", "배방", "온양", "백제", "금강", "계룡", "새빛"),
        ("display", "semiconductor", "chemical"),
    ),
    ConsortiumSpec(
        "gyeongnam",
        "경남 AI 사업단",
        "48",
        7,
        0.18,
        (
            ("경남테크노파크", "lead"),
            ("경남창조경제혁신센터", "performing"),
            ("창원대학교", "performing"),
            ("경상국립대학교", "performing"),
            ("한국전기연구원", "support"),
        ),
        (608, 609, 613, 615),
        ("경남", "창원", "마산", "진해", "김해", "진주", "거제", "통영", "양산", "가야", "남강", "지리"),
        ("machinery", "ship", "auto"),
    ),
    ConsortiumSpec(
        "jeonbuk",
        "전북 AI 사업단",
        "52",
        7,
        0.12,
        (
            ("전북테크노파크", "lead"),
            ("전북특별자치도경제통상진흥원", "performing"),
            ("전북대학교", "performing"),
            ("전주정보문화산업진흥원", "performing"),
        ),
        (401, 402, 403, 404),
        ("전북", "전주", "익산", "군산", "정읍", "완주", "새만금", "모악", "호남", "덕진", "한울", "미륵"),
        ("food", "machinery", "chemical"),
    ),
    ConsortiumSpec(
        "gwangju",
        "광주 AI 사업단",
        "29",
        1,
        0.13,
        (
            ("광주테크노파크", "lead"),
            ("광주정보문화산업진흥원", "performing"),
            ("인공지능산업융합사업단", "performing"),
            ("전남대학교", "performing"),
        ),
        (408, 409, 410, 419),
        ("광주", "무등", "빛고을", "첨단", "하남", "평동", "송정", "상무", "양림", "극락", "서석", "금남"),
        ("auto", "it", "energy"),
    ),
    ConsortiumSpec(
        "daegu",
        "대구 AI 사업단",
        "27",
        1,
        0.18,
        (
            ("대구테크노파크", "lead"),
            ("대구디지털혁신진흥원", "performing"),
            ("경북대학교", "performing"),
            ("대구창조경제혁신센터", "performing"),
        ),
        (502, 503, 504, 514),
        ("대구", "달구벌", "팔공", "수성", "성서", "비산", "동촌", "앞산", "금호", "달서", "신천", "칠성"),
        ("textile", "machinery", "meddevice"),
    ),
)


@dataclass(frozen=True)
class Industry:
    key: str
    ksic_codes: tuple[str, ...]
    words: tuple[str, ...]
    weight: int


INDUSTRIES: tuple[Industry, ...] = (
    Industry(
        "auto", ("30332", "30399", "30320", "30391"), ("오토텍", "모터스", "카파츠", "정공", "모빌리티"), 8
    ),
    Industry("ship", ("31113", "31114", "31120"), ("조선", "마린", "오션텍", "해양기술", "마린테크"), 4),
    Industry("chemical", ("20119", "20499", "20302"), ("케미칼", "화학", "켐텍", "소재", "머티리얼즈"), 6),
    Industry("metal", ("25924", "25921", "25922", "24112"), ("정밀", "금속", "메탈", "스틸", "열처리"), 10),
    Industry(
        "machinery", ("29171", "29199", "29271", "29280"), ("기계", "이엔지", "엔지니어링", "산기", "테크"), 9
    ),
    Industry("display", ("26211", "26212", "26219"), ("디스플레이", "옵틱스", "광학", "패널"), 3),
    Industry("semiconductor", ("26110", "26129"), ("반도체", "세미콘", "칩스", "실리콘"), 3),
    Industry("meddevice", ("27112", "27199", "27192"), ("메디칼", "메디텍", "헬스케어", "의료기"), 4),
    Industry("bio", ("21210", "21101", "70113"), ("바이오", "제약", "바이오랩", "생명과학", "젠"), 4),
    Industry("food", ("10797", "10309", "10712", "11209"), ("식품", "푸드", "웰푸드", "농산", "F&B"), 8),
    Industry("textile", ("13101", "13213", "14111"), ("섬유", "텍스타일", "패브릭", "어패럴"), 4),
    Industry("energy", ("28111", "28202", "35113"), ("에너지", "전기", "파워", "솔라", "일렉트릭"), 4),
    Industry(
        "it",
        ("62010", "62021", "58221", "63112"),
        ("소프트", "데이터", "시스템즈", "에이아이랩", "솔루션"),
        9,
    ),
    Industry("trade", ("46510", "46593", "46800"), ("상사", "유통", "무역", "트레이딩"), 8),
    Industry("construction", ("41221", "42201", "42311"), ("건설", "종합건설", "개발", "토건"), 6),
    Industry("logistics", ("49301", "52991", "49401"), ("물류", "로지스", "운송", "익스프레스"), 4),
    Industry("service", ("73903", "75330", "71531", "85669"), ("컨설팅", "디자인", "마케팅", "에듀"), 6),
)
TECH_WORDS = (
    "",
    "",
    "",
    "",
    "스마트",
    "디지털",
    "이노",
    "넥스트",
    "그린",
    "퓨처",
    "하이",
    "뉴",
    "글로벌",
    "유니",
)
ROADS = ("중앙로", "산업로", "테크노로", "공단로", "첨단로", "혁신로", "대학로", "시청로", "번영로", "과학로")
SURNAMES = (
    "김",
    "김",
    "김",
    "김",
    "이",
    "이",
    "이",
    "박",
    "박",
    "최",
    "정",
    "강",
    "조",
    "윤",
    "장",
    "임",
    "한",
    "오",
)
GIVEN = (
    "민준",
    "서준",
    "도윤",
    "지호",
    "현우",
    "서연",
    "지우",
    "하은",
    "영수",
    "정훈",
    "성호",
    "미영",
    "은영",
    "동현",
    "지민",
    "수빈",
    "유진",
    "진우",
    "태호",
    "혜진",
)
POSITIONS = ("팀장", "과장", "대리", "부장", "실장", "연구소장", "이사", "주임", "대표")
SOLUTIONS = (
    "비전 검사 AI",
    "수요예측 SaaS",
    "설비 예지보전 AI",
    "공정 최적화 AI",
    "AI 상담 챗봇",
    "문서 인식 OCR",
    "품질 이상탐지",
    "에너지 관리 AI (FEMS)",
    "물류 경로 최적화",
    "디지털 트윈 시뮬레이션",
)

TRACKS = ("adoption", "diagnosis", "consulting", "validation", "incubation", "training", "infrastructure")
PROGRAMME_NAMES = {
    "adoption": "AI 솔루션 도입·보급",
    "diagnosis": "AI 역량진단",
    "consulting": "맞춤형 AI 컨설팅",
    "validation": "기술 검증·실증",
    "incubation": "AI 창업 인큐베이팅",
    "training": "AI 교육",
    "infrastructure": "GPU 인프라 지원",
}
# Which performing institution runs a track: the index among the consortium's performing ones.
TRACK_INSTITUTION = {
    "adoption": 0,
    "diagnosis": 0,
    "consulting": 1,
    "validation": 1,
    "incubation": 2,
    "training": 2,
    "infrastructure": 1,
}
CALL_TRACKS = ("adoption", "diagnosis", "validation", "incubation")
# Applications per call relative to one another, and the share of decided applicants selected.
CALL_WEIGHT = {"adoption": 4.0, "diagnosis": 3.0, "validation": 1.0, "incubation": 1.3}
SELECTION_RATE = {"adoption": 0.33, "diagnosis": 0.5, "validation": 0.2, "incubation": 0.25}
# Days from the start of a programme year to each cohort's call opening.
COHORT_OPENINGS = {
    "adoption": (15, 80, 150),
    "diagnosis": (15, 100, 190),
    "validation": (30, 120),
    "incubation": (20, 140),
}
# Engagements made directly (tracks without calls) as a share of those not coming from applications.
DIRECT_SHARE = {"consulting": 0.45, "diagnosis": 0.35, "infrastructure": 0.2}
DURATION_DAYS = {
    "adoption": (150, 240),
    "validation": (120, 200),
    "incubation": (180, 270),
    "diagnosis": (30, 75),
    "consulting": (45, 90),
    "infrastructure": (90, 180),
}
# Total support per firm in 백만원 (국비 + 지방비 + 자부담).
SUPPORT_TOTAL = {
    "adoption": (60, 160),
    "validation": (100, 300),
    "incubation": (30, 80),
    "diagnosis": (3, 8),
    "consulting": (5, 15),
    "infrastructure": (20, 60),
}
TRACKS_WITHOUT_SETTLEMENT = frozenset({"diagnosis", "consulting", "training"})
MONEYLESS = frozenset({"diagnosis", "consulting"})  # no 자부담: 국비 60 %, 지방비 40 %


# --- small helpers -----------------------------------------------------------------------------------------


def utc_at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A KST wall-clock moment on `day`, as the aware UTC datetime the models store."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - KST_OFFSET


def kst_day(moment: datetime) -> date:
    return (moment + KST_OFFSET).date()


def brn_check_digit(first_nine: str) -> int:
    from crm.firms.identifiers import brn_check_digit as check

    return check(first_nine)


class Weighted:
    """Fast repeated weighted choice (random.choices recomputes the cumulative weights on every call)."""

    def __init__(self, rng: random.Random, items: Sequence, weights: Sequence[float]) -> None:
        self.rng = rng
        self.items = list(items)
        self.cumulative = list(accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self):
        return self.items[bisect(self.cumulative, self.rng.random() * self.total)]


@dataclass
class Scaled:
    firms: int
    applications: int
    engagements: int
    milestones: int
    activities: int

    @classmethod
    def at(cls, scale: float) -> Scaled:
        return cls(
            *(max(int(n * scale), 1) for n in (FIRMS, APPLICATIONS, ENGAGEMENTS, MILESTONES, ACTIVITIES))
        )


# --- the plan held in memory --------------------------------------------------------------------------------


@dataclass
class ProgrammePlan:
    id: int
    consortium: int  # index into CONSORTIA
    year_id: int
    track: str
    institution_id: int
    starts_on: date
    ends_on: date
    review_stages: tuple[str, ...]
    templates: list[dict]
    survey_rounds: int
    coordinators: list[int]


@dataclass
class CallPlan:
    id: int
    programme: ProgrammePlan
    opens_at: datetime
    closes_at: datetime
    applications: int = 0


@dataclass
class EngagementPlan:
    id: int
    firm_id: int
    programme: ProgrammePlan
    application_id: int | None
    created_at: datetime
    coordinator_id: int
    # [(from, to, at, reason)] in order; the last one that happened is the status
    moves: list[tuple[str | None, str, datetime, str]] = field(default_factory=list)
    agreed_on: date | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    closed_on: date | None = None
    terminated_at: datetime | None = None
    money: tuple[int, int, int, int] = (0, 0, 0, 0)
    supplier_firm_id: int | None = None
    solution: str = ""

    @property
    def status(self) -> str:
        return self.moves[-1][1]

    @property
    def status_changed_at(self) -> datetime:
        return self.moves[-1][2]

    @property
    def was_agreed(self) -> bool:
        return self.agreed_on is not None


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.today = kst_day(now)


# --- loading ------------------------------------------------------------------------------------------------


class Loader:
    """COPY rows into a table, timing it and checking that every NOT NULL column without a server default
    is given (the models fill those in Python, which COPY bypasses)."""

    def __init__(self, conn: psycopg.Connection, metadata: sa.MetaData) -> None:
        self.conn = conn
        self.metadata = metadata
        self.counts: dict[str, int] = {}
        self.explicit_ids: set[str] = set()

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
        self._check_columns(table, columns)
        started = time.perf_counter()
        count = 0
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        self.conn.commit()
        if "id" in columns:
            self.explicit_ids.add(table)
        self.counts[table] = self.counts.get(table, 0) + count
        elapsed = time.perf_counter() - started
        rate = count / elapsed if elapsed else 0
        print(f"  {table:<26} {count:>10,} rows  {elapsed:7.1f} s  ({rate:,.0f} rows/s)", flush=True)
        return count

    def set_aside(self, tables: Sequence[str]) -> None:
        """Drops the foreign keys and the plain indexes of the tables about to be loaded; `restore` puts them
        back. Checking a foreign key row by row costs more than the COPY itself, while adding it afterwards
        checks every row in one join, and an index built once is cheaper than one maintained row by row.
        Primary keys, unique and CHECK constraints stay: they are checked during the load."""
        with self.conn.cursor() as cursor:
            self.foreign_keys = cursor.execute(
                """
                SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)
                ORDER BY 1, 2
                """,
                (list(tables),),
            ).fetchall()
            self.indexes = cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid::regclass::text = ANY(%s)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY 1
                """,
                (list(tables),),
            ).fetchall()
            for table, name, _definition in self.foreign_keys:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _definition in self.indexes:
                cursor.execute(f"DROP INDEX {name}")
        self.conn.commit()

    def restore(self) -> None:
        started = time.perf_counter()
        with self.conn.cursor() as cursor:
            for _name, definition in self.indexes:
                cursor.execute(definition)
        self.conn.commit()
        print(f"  {'indexes':<26} {len(self.indexes):>10,} built  {time.perf_counter() - started:7.1f} s")
        started = time.perf_counter()
        with self.conn.cursor() as cursor:
            for table, name, definition in self.foreign_keys:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        self.conn.commit()
        print(
            f"  {'foreign keys':<26} {len(self.foreign_keys):>10,} checked "
            f"{time.perf_counter() - started:6.1f} s",
            flush=True,
        )

    def _check_columns(self, table: str, columns: Sequence[str]) -> None:
        known = self.metadata.tables[table].columns
        unknown = [name for name in columns if name not in known]
        missing = [
            column.name
            for column in known
            if not column.nullable
            and column.server_default is None
            and not (column.primary_key and column.autoincrement)
            and column.name not in columns
        ]
        if unknown or missing:
            raise RuntimeError(f"{table}: unknown columns {unknown}, required columns missing {missing}")


# --- the generator ------------------------------------------------------------------------------------------


class Generator:
    def __init__(self, scale: float, seed: int, now: datetime | None = None) -> None:
        self.scale = scale
        self.sizes = Scaled.at(scale)
        self.rng = random.Random(seed)
        self.clock = Clock(now or datetime.now(UTC))
        self.password_hash = ""
        # filled by the reference data
        self.consortium_ids: list[int] = []
        self.institutions: list[list[tuple[int, str]]] = []  # per consortium: (id, role)
        self.coordinators: dict[int, list[int]] = {}  # institution id -> user ids
        self.managers: list[int] = []
        self.programmes: list[ProgrammePlan] = []
        self.calls: list[CallPlan] = []
        self.sigungu: list[list[tuple[str, str]]] = []  # per consortium: (code, name)
        # filled by the plan
        self.firm_consortium: list[int] = [0]  # index 0 unused: firm ids start at 1
        self.firm_home_institution: list[int] = [0]
        self.firm_user: dict[int, int] = {}  # firm id -> portal user id
        self.firms_by_consortium: list[list[int]] = []
        self.suppliers_by_consortium: list[list[int]] = []
        self.engagements: list[EngagementPlan] = []
        self.links: set[tuple[int, int, int | None, str]] = set()
        self.portal_firms: list[int] = []

    # reference data, through the ORM

    def reference_data(self) -> None:
        from crm.auth.models import Role, User
        from crm.auth.operations import hash_password
        from crm.demo import seed as demo
        from crm.extensions import db
        from crm.firms import regions
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
        from crm.programmes.operations import (
            default_sla_days,
            default_survey_indicators,
            default_survey_rounds,
        )

        rng = self.rng
        self.password_hash = hash_password(PASSWORD)
        now = self.clock.now

        def user(email: str, name: str, role: Role, **scope) -> User:
            return User(
                email=email,
                name=name,
                role=role,
                password_hash=self.password_hash,
                password_changed_at=now,
                email_verified_at=now,
                **scope,
            )

        staff = [
            user(ADMIN, "관리자", Role.admin),
            user(VIEWER, "정중기", Role.national_viewer),
            *(user(f"evaluator{n}@bench.example.com", f"평가위원{n}", Role.evaluator) for n in range(1, 11)),
        ]
        consortia: list[Consortium] = []
        institutions: list[list[Institution]] = []
        coordinators: dict[tuple[int, int], list[User]] = {}
        managers: list[User] = []
        for index, spec in enumerate(CONSORTIA):
            consortium = Consortium(name=spec.name, sido_code=spec.sido_code)
            members = [
                Institution(consortium=consortium, name=name, role=InstitutionRole(role))
                for name, role in spec.institutions
            ]
            consortia.append(consortium)
            institutions.append(members)
            manager = user(
                f"manager.{spec.key}@bench.example.com", f"{spec.name[:2]} 총괄", Role.consortium_manager
            )
            manager.consortium = consortium
            managers.append(manager)
            for position, institution in enumerate(members):
                if institution.role is InstitutionRole.support:
                    continue
                people = []
                for n in (1, 2):
                    coordinator = user(
                        f"coordinator{position}{n}.{spec.key}@bench.example.com",
                        f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}",
                        Role.coordinator,
                    )
                    coordinator.institution = institution
                    people.append(coordinator)
                coordinators[index, position] = people
            self.sigungu.append(regions.sigungu_of(spec.sido_code))
        db.session.add_all([*consortia, *staff, *managers, *(u for us in coordinators.values() for u in us)])
        db.session.flush()

        self.consortium_ids = [c.id for c in consortia]
        self.institutions = [[(i.id, i.role.value) for i in members] for members in institutions]
        self.managers = [m.id for m in managers]
        for (index, position), people in coordinators.items():
            self.coordinators[institutions[index][position].id] = [u.id for u in people]

        for index, spec in enumerate(CONSORTIA):
            performing = [i for i in institutions[index] if i.role is InstitutionRole.performing]
            for ordinal, first_year in ((1, 2025), (2, 2026)):
                starts_on = date(first_year, spec.start_month, 1)
                ends_on = date(first_year + 1, spec.start_month, 1) - timedelta(days=1)
                year = ProgrammeYear(
                    consortium=consortia[index], ordinal=ordinal, starts_on=starts_on, ends_on=ends_on
                )
                db.session.add(year)
                for track_name in TRACKS:
                    track = Track(track_name)
                    institution = performing[TRACK_INSTITUTION[track_name] % len(performing)]
                    programme = Programme(
                        programme_year=year,
                        institution=institution,
                        name=PROGRAMME_NAMES[track_name],
                        track=track,
                        target=1,  # set from the loaded engagements once they exist (see finish)
                        unit=DEFAULT_UNIT.get(track, TargetUnit.firms),
                        counting_point=DEFAULT_COUNTING_POINT[track],
                        per_firm_cap_krw=_cap(track_name),
                        exclusivity_years=demo.EXCLUSIVITY_YEARS.get(track, 0),
                        requires_sme_certificate=track in (Track.adoption, Track.validation),
                        excluded_ksic_prefixes=["56", "68"] if track is Track.adoption else [],
                        review_stages=list(demo.REVIEW_STAGES.get(track, [])),
                        milestone_templates=[dict(t) for t in demo.MILESTONES[track]],
                        sla_days=default_sla_days(track),
                        survey_rounds=default_survey_rounds(track),
                        survey_indicators=default_survey_indicators(track),
                    )
                    db.session.add(programme)
                    db.session.flush()
                    self.programmes.append(
                        ProgrammePlan(
                            id=programme.id,
                            consortium=index,
                            year_id=year.id,
                            track=track_name,
                            institution_id=institution.id,
                            starts_on=starts_on,
                            ends_on=ends_on,
                            review_stages=tuple(programme.review_stages),
                            templates=programme.milestone_templates,
                            survey_rounds=programme.survey_rounds,
                            coordinators=self.coordinators[institution.id],
                        )
                    )
                    if track_name in CALL_TRACKS:
                        db.session.add_all(self._calls(programme, self.programmes[-1], spec, Call))
        db.session.flush()
        by_programme = {plan.id: plan for plan in self.programmes}
        for call in db.session.scalars(sa.select(Call).order_by(Call.id)):
            self.calls.append(
                CallPlan(call.id, by_programme[call.programme_id], call.opens_at, call.closes_at)
            )
        db.session.commit()

    def _calls(self, programme, plan: ProgrammePlan, spec: ConsortiumSpec, call_model) -> list:
        """The programme's cohorts, each call open three to five weeks; their capacity is set from the
        selections once these are loaded."""
        from crm.demo import data as demo_data

        rng = self.rng
        region = spec.name.split()[0]
        documents = (
            demo_data.REQUIRED_DOCUMENTS if plan.track != "diagnosis" else demo_data.REQUIRED_DOCUMENTS[1:2]
        )
        calls = []
        for number, offset in enumerate(COHORT_OPENINGS[plan.track], start=1):
            opens_on = plan.starts_on + timedelta(days=offset + rng.randint(-5, 12))
            closes_on = opens_on + timedelta(days=rng.randint(21, 35))
            calls.append(
                call_model(
                    programme=programme,
                    title=f"{opens_on.year}년 {region} {programme.name} {number}차 참여기업 모집",
                    cohort=f"{opens_on.year}-{number}차",
                    opens_at=utc_at(opens_on, 9),
                    closes_at=utc_at(closes_on, 18),
                    capacity=1,
                    eligibility_text=demo_data.eligibility_text(region),
                    required_documents=[dict(d) for d in documents],
                    questions=[dict(q) for q in demo_data.QUESTIONS],
                )
            )
        return calls

    # --- firms --------------------------------------------------------------------------------------------

    def plan_firms(self) -> None:
        rng = self.rng
        weights = [spec.weight for spec in CONSORTIA]
        per_consortium = [int(self.sizes.firms * w / sum(weights)) for w in weights]
        per_consortium[0] += self.sizes.firms - sum(per_consortium)
        self.firms_by_consortium = [[] for _ in CONSORTIA]
        self.suppliers_by_consortium = [[] for _ in CONSORTIA]
        firm_id = 0
        for index, count in enumerate(per_consortium):
            registering = [i for i, role in self.institutions[index] if role != "support"]
            for _ in range(count):
                firm_id += 1
                self.firm_consortium.append(index)
                # the first performing institution (the 진흥원) registers most firms
                self.firm_home_institution.append(
                    registering[1] if rng.random() < 0.5 else rng.choice(registering)
                )
                self.firms_by_consortium[index].append(firm_id)
        # portal accounts for one firm in twenty
        self.portal_firms = sorted(rng.sample(range(1, firm_id + 1), max(firm_id // 20, 1)))

    def firm_rows(self) -> Iterator[tuple]:
        rng = self.rng
        now = self.clock.now
        today = self.clock.today
        brns: set[str] = set()
        industry_pickers = []
        for spec in CONSORTIA:
            weights = [ind.weight * (5 if ind.key in spec.specialties else 1) for ind in INDUSTRIES]
            industry_pickers.append(Weighted(rng, INDUSTRIES, weights))
        # Firms cluster in a few districts (the industrial complexes): Zipf-like weights over the 시군구.
        sigungu_pickers = [
            Weighted(rng, codes, [1 / (rank + 1) ** 0.9 for rank in range(len(codes))])
            for codes in self.sigungu
        ]
        other_sido = [code for codes in self.sigungu for code in codes]
        for firm_id in range(1, len(self.firm_consortium)):
            index = self.firm_consortium[firm_id]
            spec = CONSORTIA[index]
            industry = industry_pickers[index].pick()
            corp = rng.random() < 0.72
            base = rng.choice(spec.prefixes) + rng.choice(TECH_WORDS) + rng.choice(industry.words)
            if corp:
                form = rng.random()
                name = f"(주){base}" if form < 0.5 else f"{base}(주)" if form < 0.8 else f"주식회사 {base}"
            else:
                name = base
            # 88 % in the consortium's own region; the rest registered elsewhere (branch offices)
            code, district = sigungu_pickers[index].pick() if rng.random() < 0.88 else rng.choice(other_sido)
            sido = code[:2]
            while True:
                kind = rng.choice(("81", "81", "81", "86", "87")) if corp else f"{rng.randint(1, 79):02d}"
                first_nine = f"{rng.choice(spec.tax_offices):03d}{kind}{rng.randint(0, 9999):04d}"
                brn = first_nine + str(brn_check_digit(first_nine))
                if brn not in brns:
                    brns.add(brn)
                    break
            corp_no = None
            if corp:
                first_twelve = f"{rng.randint(1101, 2899):04d}11{rng.randint(0, 999_999):06d}"
                corp_no = first_twelve + str(_corp_no_check_digit(first_twelve))
            roll = rng.random()
            employees = (
                None
                if roll < 0.04
                else rng.randint(1, 9)
                if roll < 0.45
                else rng.randint(10, 49)
                if roll < 0.80
                else rng.randint(50, 99)
                if roll < 0.90
                else rng.randint(100, 299)
                if roll < 0.98
                else rng.randint(300, 900)
            )
            supplier = (industry.key == "it" and rng.random() < 0.5) or rng.random() < 0.01
            if supplier:
                self.suppliers_by_consortium[index].append(firm_id)
            roll = rng.random()
            status = "active" if roll < 0.95 else "suspended" if roll < 0.98 else "closed"
            roll = rng.random()
            sme_expires = (
                today + timedelta(days=rng.randint(20, 720))
                if roll < 0.8
                else today - timedelta(days=rng.randint(1, 400))
                if roll < 0.9
                else None
            )
            founded = date(round(rng.triangular(1980, 2025, 2015)), rng.randint(1, 12), rng.randint(1, 28))
            created = now - timedelta(days=rng.randint(1, 600), seconds=rng.randint(0, 86399))
            registered_by = rng.choice(self.coordinators[self.firm_home_institution[firm_id]])
            yield (
                firm_id,
                brn,
                corp_no,
                name,
                _initials(name),
                rng.choice(SURNAMES) + rng.choice(GIVEN),
                founded,
                f"{_sido_name(sido)} {district} {rng.choice(ROADS)} {rng.randint(1, 400)}",
                sido,
                code,
                rng.choice(industry.ksic_codes),
                11,
                employees,
                sme_expires,
                status,
                now - timedelta(days=rng.randint(1, 90)),
                supplier,
                ", ".join(rng.sample(SOLUTIONS, k=rng.randint(1, 3))) if supplier else "",
                registered_by,
                created,
                created,
            )

    FIRM_COLUMNS = (
        "id",
        "brn",
        "corp_no",
        "name",
        "name_initials",
        "ceo_name",
        "founded_on",
        "address",
        "sido_code",
        "sigungu_code",
        "ksic_code",
        "ksic_revision",
        "employees",
        "sme_certificate_expires_on",
        "business_status",
        "business_status_checked_at",
        "is_supplier",
        "solutions_offered",
        "registered_by_id",
        "created_at",
        "updated_at",
    )

    def financial_rows(self) -> Iterator[tuple]:
        rng = self.rng
        row_id = 0
        for firm_id in range(1, len(self.firm_consortium)):
            if rng.random() > 0.75:
                continue
            employees = rng.choice((3, 8, 15, 30, 60, 120, 250))
            revenue = employees * rng.uniform(0.8, 4.0) * 100 * MILLION
            for year in (2024, 2025):
                row_id += 1
                revenue_krw = max(int(revenue) // MILLION * MILLION, 20 * MILLION)
                yield (
                    row_id,
                    firm_id,
                    year,
                    revenue_krw,
                    int(revenue_krw * rng.uniform(0.4, 1.3)) // MILLION * MILLION,
                    int(revenue_krw * rng.uniform(0, 0.4)) // MILLION * MILLION if rng.random() < 0.3 else 0,
                )
                revenue *= rng.uniform(0.85, 1.3)

    FINANCIAL_COLUMNS = ("id", "firm_id", "year", "revenue_krw", "assets_krw", "exports_krw")

    def contact_rows(self) -> Iterator[tuple]:
        from crm.privacy.retention import years_after

        rng = self.rng
        now = self.clock.now
        row_id = 0
        for firm_id in range(1, len(self.firm_consortium)):
            if rng.random() > 0.6:
                continue
            for index in range(1 if rng.random() < 0.6 else 2):
                row_id += 1
                consent = now - timedelta(days=rng.randint(5, 700), seconds=rng.randint(0, 86399))
                created = consent
                yield (
                    row_id,
                    firm_id,
                    rng.choice(SURNAMES) + rng.choice(GIVEN),
                    rng.choice(POSITIONS),
                    f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}",
                    f"contact{row_id}@firm{firm_id}.example.com",
                    index == 0,
                    consent,
                    consent if rng.random() < 0.7 else None,
                    consent if rng.random() < 0.3 else None,
                    years_after(kst_day(consent)),
                    created,
                    created,
                )

    CONTACT_COLUMNS = (
        "id",
        "firm_id",
        "name",
        "position",
        "phone",
        "email",
        "is_primary",
        "consent_privacy_at",
        "consent_admin_info_at",
        "consent_marketing_at",
        "retention_until",
        "created_at",
        "updated_at",
    )

    def portal_user_rows(self, first_id: int) -> Iterator[tuple]:
        now = self.clock.now
        for offset, firm_id in enumerate(self.portal_firms):
            user_id = first_id + offset
            self.firm_user[firm_id] = user_id
            yield (
                user_id,
                f"portal{firm_id}@firm{firm_id}.example.com",
                f"{SURNAMES[firm_id % len(SURNAMES)]}{GIVEN[firm_id % len(GIVEN)]}",
                self.password_hash,
                "firm_user",
                firm_id,
                True,
                now,
                now,
                now,
                now,
            )

    USER_COLUMNS = (
        "id",
        "email",
        "name",
        "password_hash",
        "role",
        "firm_id",
        "is_active",
        "password_changed_at",
        "email_verified_at",
        "created_at",
        "updated_at",
    )

    # --- applications -------------------------------------------------------------------------------------

    def plan_call_sizes(self) -> None:
        """How many applications each call received: by track and region, nothing before it opened, and a
        share of the window for a call open now."""
        now = self.clock.now
        weights = []
        for call in self.calls:
            if call.opens_at > now:
                weights.append(0.0)
                continue
            share = 1.0
            if call.closes_at > now:
                share = (now - call.opens_at) / (call.closes_at - call.opens_at)
            consortium_weight = CONSORTIA[call.programme.consortium].weight
            weights.append(
                CALL_WEIGHT[call.programme.track] * consortium_weight * share * self.rng.uniform(0.8, 1.2)
            )
        total = sum(weights)
        for call, weight in zip(self.calls, weights, strict=True):
            pool = len(self.firms_by_consortium[call.programme.consortium])
            call.applications = min(round(self.sizes.applications * weight / total), int(pool * 0.8))

    def application_rows(self, history: list[tuple]) -> Iterator[tuple]:
        """Applications call by call; the history rows go to `history`, the selected ones become
        engagements (self.engagements)."""
        rng = self.rng
        now = self.clock.now
        app_id = 0
        answers_plain = json.dumps(
            {
                "goal": "불량률 30% 감소",
                "problem": "수작업 검사로 인한 품질 편차",
                "data": "검사 이미지 2만 장",
            },
            ensure_ascii=False,
        )
        answers_short = json.dumps(
            {"goal": "AI 도입 가능성 진단", "problem": "데이터 활용 방안 부재"}, ensure_ascii=False
        )
        for call in self.calls:
            if not call.applications:
                continue
            programme = call.programme
            track = programme.track
            stages = programme.review_stages
            closes = call.closes_at
            eligibility_at = closes + timedelta(days=rng.randint(2, 6))
            review_at = eligibility_at + timedelta(days=rng.randint(5, 10)) if stages else None
            presentation_at = (
                review_at + timedelta(days=rng.randint(7, 12))
                if "presentation" in stages and review_at
                else None
            )
            decided_at = (presentation_at or review_at or eligibility_at) + timedelta(days=rng.randint(4, 10))
            firms = rng.sample(self.firms_by_consortium[programme.consortium], call.applications)
            for firm_id in firms:
                app_id += 1
                created = call.opens_at + (min(closes, now) - call.opens_at) * rng.random()
                submitted = min(created + timedelta(hours=rng.uniform(1, 120)), closes - timedelta(minutes=1))
                path = self._application_path(
                    track, stages, now, submitted, eligibility_at, review_at, presentation_at, decided_at
                )
                actor = self.firm_user.get(firm_id) or rng.choice(programme.coordinators)
                staff = rng.choice(programme.coordinators)
                status = path[-1][1] if path else "draft"
                for from_status, to_status, at in path:
                    history.append(
                        (
                            app_id,
                            from_status,
                            to_status,
                            actor if to_status in ("submitted", "withdrawn") else staff,
                            at,
                            _reason(to_status),
                        )
                    )
                ever_submitted = any(to == "submitted" for _f, to, _a in path)
                checked = any(f == "eligibility" for f, _t, _a in path)
                eligibility_result = None
                if checked:
                    problems = (
                        [{"code": "sme_certificate", "message": "중소기업확인서의 유효기간이 지났습니다."}]
                        if status == "ineligible"
                        else []
                    )
                    eligibility_result = json.dumps(
                        {"checked_at": eligibility_at.isoformat(), "problems": problems}, ensure_ascii=False
                    )
                if status == "selected":
                    self._engagement_from_application(app_id, firm_id, programme, decided_at)
                self.links.add(
                    (firm_id, self.consortium_ids[programme.consortium], programme.institution_id, "applied")
                )
                updated = path[-1][2] if path else created
                yield (
                    app_id,
                    call.id,
                    firm_id,
                    status,
                    answers_short if track == "diagnosis" else answers_plain,
                    submitted if ever_submitted else None,
                    updated if status in ("selected", "rejected", "reserve", "ineligible") else None,
                    _decision_reason(status),
                    "사업계획서의 추진 일정을 보완해 주세요." if status == "supplement_requested" else "",
                    kst_day(now) + timedelta(days=7) if status == "supplement_requested" else None,
                    eligibility_result,
                    actor,
                    1 + len(path),
                    created,
                    updated,
                )

    APPLICATION_COLUMNS = (
        "id",
        "call_id",
        "firm_id",
        "status",
        "answers",
        "submitted_at",
        "decided_at",
        "decision_reason",
        "supplement_message",
        "supplement_due_on",
        "eligibility_result",
        "created_by_id",
        "version",
        "created_at",
        "updated_at",
    )
    APPLICATION_HISTORY_COLUMNS = ("application_id", "from_status", "to_status", "actor_id", "at", "reason")

    def _application_path(
        self,
        track: str,
        stages: tuple[str, ...],
        now: datetime,
        submitted: datetime,
        eligibility_at: datetime,
        review_at: datetime | None,
        presentation_at: datetime | None,
        decided_at: datetime,
    ) -> list[tuple[str | None, str, datetime]]:
        """The moves an application made up to now, following the transition table and the call's phase:
        a few drafts never submitted, some withdrawn, supplements asked for, some ineligible, rejections on
        paper before the presentation, and the decision."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.05 or submitted > now:
            return []  # a draft
        path: list[tuple[str | None, str, datetime]] = [("draft", "submitted", submitted)]
        if roll < 0.09:
            path.append(
                ("submitted", "withdrawn", min(submitted + timedelta(days=rng.uniform(0.5, 10)), now))
            )
            return path
        if eligibility_at > now:
            return path
        path.append(("submitted", "eligibility", eligibility_at))
        if rng.random() < 0.08:
            asked = eligibility_at + timedelta(hours=rng.uniform(2, 48))
            if asked > now:
                return path
            path.append(("eligibility", "supplement_requested", asked))
            answered = asked + timedelta(days=rng.uniform(1, 7))
            if rng.random() < 0.2:
                # never answered: the firm gives up after the due day
                gave_up = asked + timedelta(days=14)
                if gave_up <= now:
                    path.append(("supplement_requested", "withdrawn", gave_up))
                return path
            if answered > now:
                return path
            path.append(("supplement_requested", "submitted", answered))
            again = answered + timedelta(hours=rng.uniform(2, 24))
            if again > now:
                return path
            path.append(("submitted", "eligibility", again))
        if rng.random() < 0.1:
            at = path[-1][2] + timedelta(hours=rng.uniform(2, 72))
            if at <= now:
                path.append(("eligibility", "ineligible", at))
            return path
        current = "eligibility"
        in_running = 0.82
        if review_at is not None:
            if review_at > now:
                return path
            path.append((current, "document_review", review_at))
            current = "document_review"
            if presentation_at is not None:
                in_running *= 0.65
                if rng.random() < 0.35:
                    # most rejections happen on paper, before the presentation
                    if decided_at <= now:
                        path.append((current, "rejected", decided_at))
                    return path
                if presentation_at > now:
                    return path
                path.append((current, "presentation", presentation_at))
                current = "presentation"
        if decided_at > now:
            return path
        rate = min(SELECTION_RATE[track] / in_running, 0.95)
        outcome = rng.random()
        if outcome < rate:
            path.append((current, "selected", decided_at))
        elif outcome < rate + (1 - rate) * 0.15:
            path.append((current, "reserve", decided_at))
            later = decided_at + timedelta(days=rng.uniform(3, 20))
            if rng.random() < 0.6 and later <= now:
                path.append(("reserve", "rejected", later))
        else:
            path.append((current, "rejected", decided_at))
        return path

    # --- engagements --------------------------------------------------------------------------------------

    def _engagement_from_application(
        self, application_id: int, firm_id: int, programme: ProgrammePlan, decided_at: datetime
    ) -> None:
        plan = EngagementPlan(
            id=len(self.engagements) + 1,
            firm_id=firm_id,
            programme=programme,
            application_id=application_id,
            created_at=decided_at,
            coordinator_id=self.rng.choice(programme.coordinators),
        )
        plan.moves.append((None, "pending_agreement", decided_at, f"신청 #{application_id}에서 선정"))
        self.engagements.append(plan)

    def plan_direct_engagements(self) -> None:
        """Tracks without calls: engagements a coordinator opens directly, spread over each programme year
        up to today, enough to reach the engagement total."""
        rng = self.rng
        now = self.clock.now
        missing = max(self.sizes.engagements - len(self.engagements), 0)
        for track, share in DIRECT_SHARE.items():
            programmes = [p for p in self.programmes if p.track == track and utc_at(p.starts_on) < now]
            weights = [
                CONSORTIA[p.consortium].weight
                * max((min(utc_at(p.ends_on), now) - utc_at(p.starts_on)).days, 1)
                for p in programmes
            ]
            picker = Weighted(rng, programmes, weights)
            for _ in range(round(missing * share)):
                programme = picker.pick()
                latest = min(utc_at(programme.ends_on - timedelta(days=45)), now)
                created = utc_at(programme.starts_on) + (latest - utc_at(programme.starts_on)) * rng.random()
                plan = EngagementPlan(
                    id=len(self.engagements) + 1,
                    firm_id=rng.choice(self.firms_by_consortium[programme.consortium]),
                    programme=programme,
                    application_id=None,
                    created_at=created,
                    coordinator_id=rng.choice(programme.coordinators),
                )
                plan.moves.append((None, "pending_agreement", created, ""))
                self.engagements.append(plan)

    def plan_lifecycles(self) -> None:
        """Each engagement's moves from its creation to today, consistent with its programme year."""
        rng = self.rng
        now = self.clock.now
        for plan in self.engagements:
            programme = plan.programme
            track = programme.track
            created_day = kst_day(plan.created_at)
            self.links.add(
                (plan.firm_id, self.consortium_ids[programme.consortium], programme.institution_id, "engaged")
            )
            if rng.random() < 0.03:
                at = plan.created_at + timedelta(days=rng.uniform(3, 30))
                if at <= now:
                    plan.moves.append(("pending_agreement", "cancelled", at, "기업 사정으로 선정 취소"))
                continue
            agreed_on = created_day + timedelta(days=rng.randint(5, 35))
            agreed_on = max(agreed_on, programme.starts_on)
            if agreed_on > programme.ends_on - timedelta(days=20):
                agreed_on = programme.ends_on - timedelta(days=20)
            if utc_at(agreed_on) > now:
                continue  # still awaiting its agreement
            starts_on = agreed_on + timedelta(days=rng.randint(0, 7))
            low, high = DURATION_DAYS[track]
            ends_on = min(starts_on + timedelta(days=rng.randint(low, high)), programme.ends_on)
            plan.agreed_on, plan.starts_on, plan.ends_on = agreed_on, starts_on, ends_on
            plan.money = _money(rng, track)
            if track == "adoption" and self.suppliers_by_consortium[programme.consortium]:
                plan.supplier_firm_id = rng.choice(self.suppliers_by_consortium[programme.consortium])
                plan.solution = rng.choice(SOLUTIONS)
            slow = 3.0 if rng.random() < 0.06 else 1.0  # a few run late: the pipeline's stuck flags
            steps: list[tuple[str, datetime]] = [("agreed", utc_at(agreed_on, 11, rng.randint(0, 59)))]
            steps.append(("in_progress", utc_at(starts_on + timedelta(days=rng.randint(0, 4)), 15)))
            report = ends_on + timedelta(days=round(rng.randint(0, 14) * slow))
            steps.append(("final_report", utc_at(report, 15, rng.randint(0, 59))))
            check = report + timedelta(days=round(rng.randint(5, 20) * slow))
            steps.append(("final_check", utc_at(check, 14)))
            last = check
            if track not in TRACKS_WITHOUT_SETTLEMENT:
                last = check + timedelta(days=round(rng.randint(5, 25) * slow))
                steps.append(("settlement", utc_at(last, 16)))
            closed_on = last + timedelta(days=round(rng.randint(3, 20) * slow))
            steps.append(("closed", utc_at(closed_on, 17)))
            if programme.survey_rounds and rng.random() < 0.7:
                steps.append(("follow_up", utc_at(closed_on + timedelta(days=rng.randint(20, 60)), 10)))
            terminate_at = None
            if rng.random() < 0.035:
                span = (utc_at(ends_on) - steps[0][1]).total_seconds()
                terminate_at = steps[0][1] + timedelta(seconds=span * rng.uniform(0.1, 0.95))
            previous = "pending_agreement"
            for status, at in steps:
                if terminate_at is not None and at >= terminate_at:
                    if terminate_at <= now:
                        plan.moves.append((previous, "terminated", terminate_at, "협약해지: 사업 수행 포기"))
                        plan.terminated_at = terminate_at
                    break
                if at > now:
                    break
                plan.moves.append((previous, status, at, ""))
                if status == "closed":
                    plan.closed_on = closed_on
                previous = status

    def engagement_rows(self) -> Iterator[tuple]:
        rng = self.rng
        for plan in self.engagements:
            gov, local, cash, inkind = plan.money
            spent = returned = None
            if (
                plan.status in ("closed", "follow_up")
                and plan.programme.track not in TRACKS_WITHOUT_SETTLEMENT
            ):
                public = gov + local
                spent = public - int(public * rng.uniform(0, 0.08)) // MAN * MAN
                returned = public - spent
            yield (
                plan.id,
                plan.firm_id,
                plan.programme.id,
                plan.application_id,
                plan.status,
                plan.coordinator_id,
                plan.agreed_on,
                plan.starts_on,
                plan.ends_on,
                gov,
                local,
                cash,
                inkind,
                plan.supplier_firm_id,
                plan.solution,
                spent,
                returned,
                plan.closed_on,
                plan.status_changed_at,
                "",
                len(plan.moves),
                plan.created_at,
                plan.status_changed_at,
            )

    ENGAGEMENT_COLUMNS = (
        "id",
        "firm_id",
        "programme_id",
        "application_id",
        "status",
        "coordinator_id",
        "agreed_on",
        "starts_on",
        "ends_on",
        "gov_krw",
        "local_krw",
        "self_cash_krw",
        "self_inkind_krw",
        "supplier_firm_id",
        "solution",
        "settlement_spent_krw",
        "settlement_returned_krw",
        "closed_on",
        "status_changed_at",
        "duplicate_override_reason",
        "version",
        "created_at",
        "updated_at",
    )

    def engagement_history_rows(self) -> Iterator[tuple]:
        for plan in self.engagements:
            for from_status, to_status, at, reason in plan.moves:
                yield (plan.id, from_status, to_status, plan.coordinator_id, at, reason)

    ENGAGEMENT_HISTORY_COLUMNS = ("engagement_id", "from_status", "to_status", "actor_id", "at", "reason")

    # --- milestones ---------------------------------------------------------------------------------------

    def milestone_rows(self) -> Iterator[tuple]:
        """The programme's templates and the agreement's deadlines, as planning on `agreed` and closing makes
        them, plus hand-added progress reports so the total reaches the target. Past ones are mostly done,
        a few are overdue; those still open when an engagement was terminated are waived."""
        from crm.core.time import one_month_before

        rng = self.rng
        today = self.clock.today
        agreed = [plan for plan in self.engagements if plan.was_agreed]
        planned: list[list[tuple]] = []
        template_total = 0
        months_total = 0.0
        for plan in agreed:
            items = []
            kinds = set()
            for template in plan.programme.templates:
                due = _anchor_day(plan, template["anchor"], one_month_before)
                if due is None:
                    continue
                due += timedelta(days=int(template["offset_days"]))
                items.append(
                    (
                        template["kind"],
                        template["title"],
                        template["anchor"],
                        int(template["offset_days"]),
                        due,
                        template["owner"],
                    )
                )
                kinds.add(template["kind"])
            items.append(
                (
                    "change_deadline",
                    "협약변경 신청 마감",
                    "change_by",
                    0,
                    one_month_before(plan.ends_on),
                    "staff",
                )
            )
            if plan.programme.track not in TRACKS_WITHOUT_SETTLEMENT and "settlement" not in kinds:
                items.append(
                    ("settlement", "정산 (정산)", "end", 30, plan.ends_on + timedelta(days=30), "staff")
                )
            planned.append(items)
            template_total += len(items)
            months_total += max((plan.ends_on - plan.starts_on).days, 1) / 30
        per_month = max(self.sizes.milestones - template_total, 0) / months_total if months_total else 0
        rnd = rng.random
        now = self.clock.now
        minute = timedelta(minutes=1)
        row_id = 0
        for plan, items in zip(agreed, planned, strict=True):
            span = max((plan.ends_on - plan.starts_on).days, 1)
            extra = int(span / 30 * per_month + rng.random())
            for n in range(1, extra + 1):
                due = plan.starts_on + timedelta(days=span * n // (extra + 1))
                owner = "firm" if n % 2 else "staff"
                items.append(("progress_report", f"진행상황 보고 ({n}회차)", None, None, due, owner))
            firm_user = self.firm_user.get(plan.firm_id)
            terminated_day = kst_day(plan.terminated_at) if plan.terminated_at else None
            for kind, title, anchor, offset, due, owner in items:
                row_id += 1
                done_at = done_by = waived_at = waived_by = None
                reason = ""
                actor = plan.coordinator_id if owner == "staff" else firm_user
                if terminated_day is not None and due >= terminated_day:
                    waived_at, waived_by, reason = plan.terminated_at, plan.coordinator_id, "협약해지"
                elif due < today:
                    late = (today - due).days
                    if rnd() < (0.2 if late <= 14 else 0.008):
                        if terminated_day is not None:  # termination waives whatever is still open
                            waived_at, waived_by, reason = plan.terminated_at, plan.coordinator_id, "협약해지"
                    elif rnd() < 0.004:
                        waived_at, waived_by, reason = utc_at(due, 17), plan.coordinator_id, "해당 없음"
                    else:
                        # done around the due day, during office hours, never after now
                        done_day = min(due + timedelta(days=int(rnd() * 9) - 5), today)
                        done_at, done_by = utc_at(done_day, 9) + minute * int(rnd() * 540), actor
                        if done_at > now:
                            done_at = now - minute * (1 + int(rnd() * 600))
                elif (due - today).days < 10 and rnd() < 0.05:
                    done_at, done_by = now - minute * (60 + int(rnd() * 2880)), actor
                created = utc_at(plan.agreed_on, 11) if anchor != "closed" else utc_at(plan.closed_on, 17)
                changed = done_at or waived_at or created
                yield (
                    row_id,
                    plan.id,
                    kind,
                    title,
                    anchor,
                    offset,
                    due,
                    owner,
                    done_at,
                    done_by,
                    waived_at,
                    waived_by,
                    reason,
                    "",
                    created,
                    changed,
                )

    MILESTONE_COLUMNS = (
        "id",
        "engagement_id",
        "kind",
        "title",
        "anchor",
        "offset_days",
        "due_on",
        "owner",
        "done_at",
        "done_by_id",
        "waived_at",
        "waived_by_id",
        "waive_reason",
        "note",
        "created_at",
        "updated_at",
    )

    # --- activities ---------------------------------------------------------------------------------------

    def activity_rows(self) -> Iterator[tuple]:
        """Sessions, visits, calls and meetings: 90 % within engagements, in proportion to how long each has
        run (up to today); the rest with firms outside any engagement."""
        rng = self.rng
        today = self.clock.today
        now = self.clock.now
        windows = []
        for plan in self.engagements:
            first = kst_day(plan.created_at)
            last = min(plan.ends_on + timedelta(days=20) if plan.ends_on else today, today)
            if plan.status == "cancelled":
                last = min(last, kst_day(plan.status_changed_at))
            windows.append((plan, first, max((last - first).days, 0)))
        budget = int(self.sizes.activities * 0.9)
        per_day = budget / max(sum(days for _p, _f, days in windows), 1)
        kinds = Weighted(rng, ("consulting_session", "visit", "call", "meeting"), (40, 25, 25, 10))
        rnd = rng.random  # random() is an order of magnitude cheaper than randint() in this loop
        one_day = timedelta(days=1)
        minute = timedelta(minutes=1)
        row_id = 0

        def activity(firm_id: int, engagement_id: int | None, day: date, actor: int) -> tuple:
            kind = kinds.pick()
            summaries = SUMMARIES[kind]
            # recorded on the day or up to three days later, during office hours
            created = utc_at(day, 9) + one_day * int(rnd() * 4) + minute * int(rnd() * 600)
            if created > now:
                created = now
            return (
                row_id,
                firm_id,
                engagement_id,
                kind,
                day,
                HOURS[int(rnd() * len(HOURS))],
                PARTICIPANTS[int(rnd() * len(PARTICIPANTS))],
                summaries[int(rnd() * len(summaries))],
                actor,
                created,
                created,
            )

        for plan, first, days in windows:
            for _ in range(int(days * per_day + rnd())):
                row_id += 1
                yield activity(
                    plan.firm_id, plan.id, first + one_day * int(rnd() * (days + 1)), plan.coordinator_id
                )
        firm_count = len(self.firm_consortium) - 1
        start = date(2025, 1, 1)
        span = (today - start).days + 1
        for _ in range(max(self.sizes.activities - row_id, 0)):
            row_id += 1
            firm_id = 1 + int(rnd() * firm_count)
            coordinators = self.coordinators[self.firm_home_institution[firm_id]]
            actor = coordinators[int(rnd() * len(coordinators))]
            yield activity(firm_id, None, start + one_day * int(rnd() * span), actor)

    ACTIVITY_COLUMNS = (
        "id",
        "firm_id",
        "engagement_id",
        "kind",
        "occurred_on",
        "hours",
        "participants",
        "summary",
        "recorded_by_id",
        "created_at",
        "updated_at",
    )

    # --- links, GPU hours, training -----------------------------------------------------------------------

    def link_rows(self) -> Iterator[tuple]:
        now = self.clock.now
        for firm_id in range(1, len(self.firm_consortium)):
            consortium = self.consortium_ids[self.firm_consortium[firm_id]]
            self.links.add((firm_id, consortium, self.firm_home_institution[firm_id], "registered"))
        for row_id, (firm_id, consortium, institution, kind) in enumerate(sorted(self.links), start=1):
            yield (row_id, firm_id, consortium, institution, kind, True, now)

    LINK_COLUMNS = (
        "id",
        "firm_id",
        "consortium_id",
        "institution_id",
        "kind",
        "grants_contacts",
        "created_at",
    )

    def gpu_rows(self) -> Iterator[tuple]:
        rng = self.rng
        row_id = 0
        for plan in self.engagements:
            if plan.programme.track != "infrastructure" or not plan.was_agreed:
                continue
            row_id += 1
            granted = utc_at(plan.agreed_on, 11)
            region = CONSORTIA[plan.programme.consortium].name.split()[0]
            yield (
                row_id,
                plan.id,
                Decimal(rng.randrange(100, 5000, 50)),
                plan.agreed_on,
                f"A100 80GB × {rng.choice((1, 2, 4, 8))}, {region} AI 데이터센터",
                "",
                plan.coordinator_id,
                granted,
                granted,
            )

    GPU_COLUMNS = (
        "id",
        "engagement_id",
        "hours_granted",
        "granted_on",
        "resource",
        "note",
        "granted_by_id",
        "created_at",
        "updated_at",
    )

    def training_rows(self, registrations: list[tuple]) -> Iterator[tuple]:
        from crm.privacy.retention import years_after

        rng = self.rng
        today = self.clock.today
        now = self.clock.now
        session_id = registration_id = 0
        courses = (
            "CEO AI 리더십 과정",
            "재직자 생성형 AI 실무",
            "제조 데이터 분석 기초",
            "AI 전문인력 양성 심화",
        )
        sessions_per_programme = max(round(30 * self.scale), 2)
        for programme in self.programmes:
            if programme.track != "training":
                continue
            span = (programme.ends_on - programme.starts_on).days
            firms = self.firms_by_consortium[programme.consortium]
            for _ in range(sessions_per_programme):
                session_id += 1
                held_on = programme.starts_on + timedelta(days=rng.randint(20, span - 10))
                created = min(utc_at(held_on - timedelta(days=30)), now)
                yield (session_id, programme.id, rng.choice(courses), held_on, clock(14, 0), Decimal("4.0"),
                       "지역 AI 교육센터", 30, programme.coordinators[0], created, created)  # fmt: skip
                emails: set[str] = set()
                for seat in range(rng.randint(15, 30)):
                    firm_id = rng.choice(firms)
                    # people come back for other sessions: the quota counts distinct e-mails
                    email = f"trainee{rng.randint(1, 40)}@firm{firm_id}.example.com"
                    if email in emails:
                        continue
                    emails.add(email)
                    registration_id += 1
                    attended = None if held_on >= today else rng.random() < 0.85
                    marked = utc_at(held_on, 18) if attended is not None else None
                    registrations.append(
                        (
                            registration_id,
                            session_id,
                            f"{SURNAMES[seat % len(SURNAMES)]}{GIVEN[registration_id % len(GIVEN)]}",
                            email,
                            "",
                            firm_id,
                            attended,
                            marked,
                            programme.coordinators[0],
                            years_after(kst_day(created)),
                            created,
                            created,
                        )
                    )

    TRAINING_SESSION_COLUMNS = (
        "id",
        "programme_id",
        "course",
        "held_on",
        "starts_at",
        "hours",
        "place",
        "capacity",
        "created_by_id",
        "created_at",
        "updated_at",
    )
    TRAINING_REGISTRATION_COLUMNS = (
        "id",
        "session_id",
        "name",
        "email",
        "phone",
        "firm_id",
        "attended",
        "attendance_marked_at",
        "registered_by_id",
        "retention_until",
        "created_at",
        "updated_at",
    )


# --- value helpers ------------------------------------------------------------------------------------------

HOURS = tuple(Decimal(f"{h / 2:.1f}") for h in range(1, 9))
PARTICIPANTS = (
    "대표, 담당자",
    "생산팀장, 품질팀 2명",
    "연구소장",
    "대표",
    "담당자 외 3명",
    "공급기업 PM, 수요기업 담당자",
)
SUMMARIES = {
    "consulting_session": (
        "AI 도입 목표와 데이터 현황 점검, 우선 과제 도출",
        "공정 데이터 수집 방안 협의 및 라벨링 기준 정리",
        "PoC 결과 검토, 본 적용 범위와 일정 합의",
        "모델 성능 지표 정의 및 검증 계획 수립",
    ),
    "visit": (
        "생산 현장 방문, 검사 공정 촬영 환경 확인",
        "설비 현황 점검 및 센서 설치 위치 협의",
        "현장 점검: 적용 라인 가동 확인",
    ),
    "call": ("협약 서류 보완 안내", "중간점검 일정 조율", "정산 증빙 자료 안내", "진행상황 확인 통화"),
    "meeting": ("착수 회의: 추진 일정과 역할 분담", "중간 보고회", "공급기업·수요기업 3자 회의"),
}


def _cap(track: str) -> int | None:
    caps = {"adoption": 100, "validation": 200, "incubation": 50, "infrastructure": 40}
    return caps[track] * MILLION if track in caps else None


def _money(rng: random.Random, track: str) -> tuple[int, int, int, int]:
    """국비, 지방비, 자부담 현금, 자부담 현물 in 원, in 만원: 국비 ≤ 60 % of the total, 지방비 ≥ 20 %, and
    국비 + 지방비 within the programme's cap per firm (a smaller total where the cap binds)."""
    low, high = SUPPORT_TOTAL[track]
    total = rng.randint(low, high) * MILLION
    if track in MONEYLESS:
        gov = total * 6 // 10 // MAN * MAN
        return gov, total - gov, 0, 0
    gov_share, local_share = rng.uniform(0.45, 0.6), rng.uniform(0.21, 0.3)
    cap = _cap(track)
    if cap is not None and total * (gov_share + local_share) > cap:
        total = int(cap / (gov_share + local_share))
    total = total // MAN * MAN
    gov = int(total * gov_share) // MAN * MAN
    local = int(total * local_share) // MAN * MAN
    own = total - gov - local
    cash = own * 6 // 10 // MAN * MAN
    return gov, local, cash, own - cash


def _anchor_day(plan: EngagementPlan, anchor: str, one_month_before) -> date | None:
    if anchor == "start":
        return plan.starts_on
    if anchor == "end":
        return plan.ends_on
    if anchor == "mid":
        return plan.starts_on + (plan.ends_on - plan.starts_on) // 2
    if anchor == "closed":
        return plan.closed_on
    return None


def _reason(status: str) -> str:
    return {
        "withdrawn": "기업 요청으로 신청 취소",
        "supplement_requested": "제출 서류 보완 요청",
        "ineligible": "중소기업확인서 유효기간 경과",
        "rejected": "평가 결과 미선정",
        "reserve": "예비 선정",
    }.get(status, "")


def _decision_reason(status: str) -> str:
    return {"selected": "평가 결과 선정", "rejected": "평가 점수 미달", "reserve": "예비 순위 1~5위"}.get(
        status, ""
    )


def _corp_no_check_digit(first_twelve: str) -> int:
    from crm.firms.identifiers import corp_no_check_digit

    return corp_no_check_digit(first_twelve)


_INITIALS: dict[str, str] = {}


def _initials(name: str) -> str:
    found = _INITIALS.get(name)
    if found is None:
        from crm.firms.identifiers import hangul_initials

        found = _INITIALS[name] = hangul_initials(name)
    return found


def _sido_name(code: str) -> str:
    from crm.firms.regions import SIDO

    return SIDO.get(code, "")


# --- the run ------------------------------------------------------------------------------------------------


def database_exists(name: str) -> bool:
    with psycopg.connect(libpq_url("postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def recreate_database(name: str) -> None:
    with psycopg.connect(libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        # As production should run: JIT-compiling a dashboard's aggregate costs more than running it (0.5 s of
        # JIT for a 0.2 s query here). Set on the database, so the app and the floors alike run without it.
        conn.execute(f'ALTER DATABASE "{name}" SET jit = off')


def migrate(app) -> None:
    import flask_migrate

    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))


def finish(conn: psycopg.Connection, loader: Loader) -> None:
    """What only the loaded rows can tell: targets that leave some programmes at risk and some ahead,
    budgets that cover what was committed (국비 ≤ 60 %, 지방비 ≥ 20 % as the engagements keep them), call
    capacities near the selections; then the sequences past the explicit ids."""
    started = time.perf_counter()
    statements = [
        # Budgets: what the programme's agreements committed, plus headroom; the year's is the sum.
        """
        UPDATE programmes p SET
            budget_gov_krw = s.gov, budget_local_krw = s.local, budget_self_krw = s.own
        FROM (
            SELECT p.id,
                   (COALESCE(SUM(e.gov_krw), 0) * 1.15)::bigint / 1000000 * 1000000 + 100000000 AS gov,
                   (COALESCE(SUM(e.local_krw), 0) * 1.15)::bigint / 1000000 * 1000000 + 100000000 AS local,
                   (COALESCE(SUM(e.self_cash_krw + e.self_inkind_krw), 0) * 1.15)::bigint / 1000000 * 1000000
                       + 50000000 AS own
            FROM programmes p LEFT JOIN engagements e
              ON e.programme_id = p.id AND e.status NOT IN ('pending_agreement', 'cancelled')
            GROUP BY p.id
        ) s WHERE s.id = p.id
        """,
        """
        UPDATE programme_years y SET
            budget_gov_krw = s.gov, budget_local_krw = s.local, budget_self_krw = s.own
        FROM (
            SELECT programme_year_id, SUM(budget_gov_krw) AS gov, SUM(budget_local_krw) AS local,
                   SUM(budget_self_krw) AS own
            FROM programmes GROUP BY programme_year_id
        ) s WHERE s.programme_year_id = y.id
        """,
        # Calls: capacity near what was selected (or the applications so far for calls not decided).
        """
        UPDATE calls c SET capacity = GREATEST(s.n, 1)
        FROM (
            SELECT c.id, GREATEST(COUNT(*) FILTER (WHERE a.status = 'selected'),
                                  COUNT(a.id) * 2 / 5) AS n
            FROM calls c LEFT JOIN applications a ON a.call_id = c.id GROUP BY c.id
        ) s WHERE s.id = c.id
        """,
        # Targets: the year-end figure the engagements so far extrapolate to, times 0.8–1.3, so some
        # programmes are on track, some ahead and some at risk.
        """
        UPDATE programmes p SET target = GREATEST(s.target, 1)
        FROM (
            SELECT p.id,
                   CEIL(
                       GREATEST(COUNT(e.id), 1)
                       / LEAST(GREATEST(
                             (CURRENT_DATE - y.starts_on + 1)::numeric / (y.ends_on - y.starts_on + 1), 0.05
                         ), 1)
                       * (0.8 + 0.5 * ((p.id * 7919) % 100) / 100.0)
                   )::int AS target
            FROM programmes p JOIN programme_years y ON y.id = p.programme_year_id
            LEFT JOIN engagements e ON e.programme_id = p.id AND e.status <> 'cancelled'
            WHERE p.unit = 'firms'
            GROUP BY p.id, y.starts_on, y.ends_on
        ) s WHERE s.id = p.id
        """,
        """
        UPDATE programmes p SET target = GREATEST(s.people, 10)
        FROM (
            SELECT ts.programme_id, COUNT(DISTINCT lower(r.email)) * 13 / 10 AS people
            FROM training_sessions ts JOIN training_registrations r ON r.session_id = ts.id
            GROUP BY ts.programme_id
        ) s WHERE s.programme_id = p.id AND p.unit = 'people'
        """,
        """
        UPDATE programmes p SET target = GREATEST(s.hours, 100)
        FROM (
            SELECT e.programme_id, (SUM(g.hours_granted) * 1.1)::int AS hours
            FROM gpu_allocations g JOIN engagements e ON e.id = g.engagement_id GROUP BY e.programme_id
        ) s WHERE s.programme_id = p.id AND p.unit = 'gpu_hours'
        """,
    ]
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
        for table in sorted(loader.explicit_ids):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )
        # rows COPYed without ids took them from the sequence already
    conn.commit()
    print(
        f"  {'targets, budgets, sequences':<26} {'':>10}       {time.perf_counter() - started:7.1f} s",
        flush=True,
    )


def check(conn: psycopg.Connection) -> None:
    """The invariants the app relies on and that COPY does not check by itself."""
    problems = {
        "engagement over 60 % 국비": "SELECT COUNT(*) FROM engagements WHERE gov_krw * 100 > 60 * "
        "(gov_krw + local_krw + self_cash_krw + self_inkind_krw)",
        "engagement dates outside its year": "SELECT COUNT(*) FROM engagements e JOIN programmes p ON "
        "p.id = e.programme_id JOIN programme_years y ON y.id = p.programme_year_id WHERE e.starts_on < "
        "y.starts_on OR e.ends_on > y.ends_on OR e.ends_on <= e.starts_on",
        "selected application without engagement": "SELECT COUNT(*) FROM applications a WHERE a.status = "
        "'selected' AND NOT EXISTS (SELECT 1 FROM engagements e WHERE e.application_id = a.id)",
        "programme over 60 % 국비": "SELECT COUNT(*) FROM programmes WHERE budget_gov_krw * 100 > 60 * "
        "(budget_gov_krw + budget_local_krw + budget_self_krw) OR budget_local_krw * 100 < 20 * "
        "(budget_gov_krw + budget_local_krw + budget_self_krw)",
    }
    with conn.cursor() as cursor:
        for label, statement in problems.items():
            found = cursor.execute(statement).fetchone()[0]
            if found:
                raise RuntimeError(f"{found} rows break: {label}")


SMOKE_PAGES = ("/dashboard", "/firms", "/firms/{firm}", "/engagements", "/engagements/{engagement}",
               "/milestones", "/milestones?status=overdue", "/applications/{application}",
               "/programmes/{programme}/pipeline")  # fmt: skip


def smoke_check(url: str) -> list[tuple[str, str, int, float]]:
    """Opens the main pages as a coordinator and a consortium manager, and the dashboard as the national
    viewer, with the test client inside one transaction rolled back at the end. Returns (who, url, status,
    ms) and raises if a page does not answer 200."""
    from crm.extensions import db

    app = bench_app(url)
    results = []
    with rolled_back(app):
        with app.app_context():
            # an engagement in progress, from an application, of a programme that has coordinators
            row = db.session.execute(
                sa.text(
                    """
                    SELECT e.id AS engagement, e.firm_id AS firm, e.application_id AS application,
                           e.programme_id AS programme, u.email AS coordinator, m.email AS manager
                    FROM engagements e
                    JOIN programmes p ON p.id = e.programme_id
                    JOIN users u ON u.institution_id = p.institution_id AND u.role = 'coordinator'
                    JOIN institutions i ON i.id = p.institution_id
                    JOIN users m ON m.consortium_id = i.consortium_id AND m.role = 'consortium_manager'
                    WHERE e.status = 'in_progress' AND e.application_id IS NOT NULL
                    ORDER BY e.id LIMIT 1
                    """
                )
            ).one()
        visits = [(who, page) for who in (row.coordinator, row.manager) for page in SMOKE_PAGES]
        visits.append((VIEWER, "/dashboard"))
        clients: dict[str, Any] = {}
        for who, page in visits:
            if who not in clients:
                clients[who] = app.test_client()
                sign_in(clients[who], who)
            target = page.format(**row._mapping)
            started = time.perf_counter()
            response = clients[who].get(target)
            elapsed = (time.perf_counter() - started) * 1000
            results.append((who, target, response.status_code, elapsed))
            if response.status_code != 200:
                raise RuntimeError(f"{who} GET {target}: HTTP {response.status_code}")
    return results


def generate(database: str, scale: float, seed: int, smoke: bool = True) -> dict[str, int]:
    from crm.extensions import db

    if READY_FILE.parent.is_dir() and scale >= 1.0 and database == BENCH_DATABASE:
        READY_FILE.unlink(missing_ok=True)  # the others wait for a fresh load
    overall = time.perf_counter()
    url = database_url(database)
    print(f"AX CRM bench data: database {database}, scale {scale}, seed {seed}", flush=True)
    step = time.perf_counter()
    recreate_database(database)
    app = bench_app(url)
    migrate(app)
    print(f"  {'schema (migrations)':<26} {'':>10}       {time.perf_counter() - step:7.1f} s", flush=True)

    generator = Generator(scale, seed)
    with app.app_context():
        step = time.perf_counter()
        generator.reference_data()
        metadata = db.metadata
        staff_users = db.session.scalar(sa.text("SELECT MAX(id) FROM users"))
        db.session.remove()
        print(
            f"  {'reference data (ORM)':<26} {'':>10}       {time.perf_counter() - step:7.1f} s", flush=True
        )

        with psycopg.connect(libpq_url(database)) as conn:
            conn.execute("SET synchronous_commit = off")
            conn.execute("SET maintenance_work_mem = '256MB'")
            loader = Loader(conn, metadata)
            loader.set_aside(BULK_TABLES)
            generator.plan_firms()
            loader.copy("firms", Generator.FIRM_COLUMNS, generator.firm_rows())
            loader.copy("firm_financials", Generator.FINANCIAL_COLUMNS, generator.financial_rows())
            loader.copy("contacts", Generator.CONTACT_COLUMNS, generator.contact_rows())
            loader.copy("users", Generator.USER_COLUMNS, generator.portal_user_rows(staff_users + 1))
            generator.plan_call_sizes()
            history: list[tuple] = []
            loader.copy("applications", Generator.APPLICATION_COLUMNS, generator.application_rows(history))
            loader.copy("application_history", Generator.APPLICATION_HISTORY_COLUMNS, history)
            del history
            generator.plan_direct_engagements()
            generator.plan_lifecycles()
            loader.copy("engagements", Generator.ENGAGEMENT_COLUMNS, generator.engagement_rows())
            loader.copy(
                "engagement_history",
                Generator.ENGAGEMENT_HISTORY_COLUMNS,
                generator.engagement_history_rows(),
            )
            loader.copy("firm_links", Generator.LINK_COLUMNS, generator.link_rows())
            loader.copy("milestones", Generator.MILESTONE_COLUMNS, generator.milestone_rows())
            loader.copy("activities", Generator.ACTIVITY_COLUMNS, generator.activity_rows())
            loader.copy("gpu_allocations", Generator.GPU_COLUMNS, generator.gpu_rows())
            registrations: list[tuple] = []
            loader.copy(
                "training_sessions",
                Generator.TRAINING_SESSION_COLUMNS,
                generator.training_rows(registrations),
            )
            loader.copy("training_registrations", Generator.TRAINING_REGISTRATION_COLUMNS, registrations)
            loader.restore()
            finish(conn, loader)
            check(conn)

        step = time.perf_counter()
        with psycopg.connect(libpq_url(database), autocommit=True) as conn:
            # Statistics and the visibility map, as autovacuum would have them on a live system.
            conn.execute("VACUUM (ANALYZE)")
        print(f"  {'VACUUM (ANALYZE)':<26} {'':>10}       {time.perf_counter() - step:7.1f} s", flush=True)
    total = time.perf_counter() - overall
    print(f"loaded in {total:.0f} s ({total / 60:.1f} min)", flush=True)
    if smoke:
        for who, page, status, elapsed in smoke_check(url):
            print(f"  {status} {elapsed:7.0f} ms  {page}  ({who})", flush=True)
    if READY_FILE.parent.is_dir() and scale >= 1.0 and database == BENCH_DATABASE:
        READY_FILE.write_text(f"ready {datetime.now(UTC).isoformat(timespec='seconds')}\n")
    return loader.counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", default=BENCH_DATABASE, help="database to (re)create, default %(default)s"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = the issue's sizes; 0.05 for a quick check"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-check", action="store_true", help="skip opening the main pages afterwards")
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the database exists")
    args = parser.parse_args(argv)
    if args.if_missing and database_exists(args.database):
        print(f"{args.database} exists; `make bench-data` reloads it")
        return 0
    generate(args.database, args.scale, args.seed, smoke=not args.no_check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
