"""Factories for every model: each call makes a valid row with sensible defaults, overridable by keyword."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from crm.activities.models import Activity, ActivityKind
from crm.api.models import ApiToken
from crm.applications.models import Application, ApplicationHistory, ApplicationStatus, DeclaredSupport
from crm.audit.models import AccessLog, AuditEvent
from crm.auth.models import EmailToken, LoginFailure, Role, User, UserSession, hash_token
from crm.auth.operations import hash_password
from crm.calendar.models import CalendarToken
from crm.core.db import utcnow
from crm.diagnosis.models import DiagnosisResult
from crm.documents.models import Document
from crm.engagements.models import AgreementChange, Engagement, EngagementHistory, EngagementStatus
from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment, Score
from crm.extensions import db
from crm.firms.identifiers import brn_check_digit, hangul_initials
from crm.firms.models import Contact, Firm, FirmFinancial, FirmLink, LinkKind
from crm.infrastructure.models import GpuAllocation, GpuUsage
from crm.milestones.models import Milestone, MilestoneOwner
from crm.notices.models import Delivery, Heartbeat, Notice, NoticeKind, Reminder, ReminderRule
from crm.organisation.models import Consortium, Institution, InstitutionRole
from crm.outcomes.models import KpiRow, OutcomeSurvey
from crm.portal.models import FirmClaim
from crm.programmes.models import (
    DEFAULT_COUNTING_POINT,
    Call,
    Programme,
    ProgrammeYear,
    TargetUnit,
    Track,
)
from crm.sanctions.models import Sanction, SanctionKind
from crm.training.models import TrainingRegistration, TrainingSession

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def _save(obj: Any) -> Any:
    db.session.add(obj)
    db.session.flush()
    return obj


def make_brn(serial: int | None = None, kind: str = "81") -> str:
    """A valid 10-digit BRN; `kind` is the middle part (81 for corporations, 10–79 for individuals)."""
    serial = _n() if serial is None else serial
    first_nine = f"{100 + serial % 800:03d}{kind}{serial % 10000:04d}"
    return first_nine + str(brn_check_digit(first_nine))


def make_consortium(**kw: Any) -> Consortium:
    n = _n()
    return _save(Consortium(**{"name": f"테스트 AI 사업단 {n}", "sido_code": "31", **kw}))


def make_institution(consortium: Consortium | None = None, **kw: Any) -> Institution:
    consortium = consortium or make_consortium()
    return _save(
        Institution(
            **{"consortium": consortium, "name": f"수행기관 {_n()}", "role": InstitutionRole.performing, **kw}
        )
    )


def make_programme_year(consortium: Consortium | None = None, **kw: Any) -> ProgrammeYear:
    consortium = consortium or make_consortium()
    values = {
        "consortium": consortium,
        "ordinal": _n(),
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2026, 12, 31),
        "budget_gov_krw": 6_000_000_000,
        "budget_local_krw": 3_000_000_000,
        "budget_self_krw": 1_000_000_000,
        **kw,
    }
    return _save(ProgrammeYear(**values))


def make_programme(
    programme_year: ProgrammeYear | None = None, institution: Institution | None = None, **kw: Any
) -> Programme:
    if programme_year is None:
        programme_year = make_programme_year(consortium=institution.consortium if institution else None)
    institution = institution or make_institution(programme_year.consortium)
    track = kw.pop("track", Track.adoption)
    values = {
        "programme_year": programme_year,
        "institution": institution,
        "name": f"AI 솔루션 도입 {_n()}",
        "track": track,
        "target": 50,
        "unit": TargetUnit.firms,
        "counting_point": DEFAULT_COUNTING_POINT[track],
        "budget_gov_krw": 600_000_000,
        "budget_local_krw": 300_000_000,
        "budget_self_krw": 100_000_000,
        "exclusivity_years": 3,
        "excluded_ksic_prefixes": [],
        "review_stages": ["document_review"],
        "milestone_templates": [],
        **kw,
    }
    return _save(Programme(**values))


def make_call(programme: Programme | None = None, open_now: bool = True, **kw: Any) -> Call:
    programme = programme or make_programme()
    now = utcnow()
    opens, closes = (
        (now - timedelta(days=7), now + timedelta(days=14))
        if open_now
        else (now - timedelta(days=30), now - timedelta(days=1))
    )
    values = {
        "programme": programme,
        "title": f"모집공고 {_n()}",
        "cohort": "2026-1차",
        "opens_at": opens,
        "closes_at": closes,
        "capacity": 10,
        "eligibility_text": "울산 소재 중소기업",
        "required_documents": [{"kind": "business_plan", "label": "사업계획서"}],
        "questions": [{"key": "goal", "label": "도입 목표", "required": True}],
        "criteria": [
            {"key": "feasibility", "label": "실현가능성", "weight": 60, "max_score": 10},
            {"key": "impact", "label": "기대효과", "weight": 40, "max_score": 10},
        ],
        **kw,
    }
    return _save(Call(**values))


def make_firm(consortium: Consortium | None = None, link: LinkKind = LinkKind.registered, **kw: Any) -> Firm:
    """A firm, linked to `consortium` when one is given (so that consortium's staff can see it)."""
    name = kw.pop("name", f"(주)울산테스트{_n()}")
    values = {
        "brn": make_brn(),
        "name": name,
        "name_initials": hangul_initials(name),
        "ceo_name": "홍길동",
        "address": "울산광역시 남구 삼산로 1",
        "sido_code": "31",
        "sigungu_code": "31140",
        "ksic_code": "26110",
        "ksic_revision": 11,
        "employees": 25,
        **kw,
    }
    firm = _save(Firm(**values))
    if consortium is not None:
        _save(FirmLink(firm=firm, consortium_id=consortium.id, kind=link))
    return firm


def make_financial(firm: Firm, **kw: Any) -> FirmFinancial:
    return _save(FirmFinancial(**{"firm": firm, "year": 2025, "revenue_krw": 5_000_000_000, **kw}))


def make_contact(firm: Firm | None = None, **kw: Any) -> Contact:
    firm = firm or make_firm()
    n = _n()
    values = {
        "firm": firm,
        "name": "김담당",
        "position": "팀장",
        "phone": f"010-1234-{n % 10000:04d}",
        "email": f"contact{n}@example.com",
        "is_primary": True,
        "consent_privacy_at": utcnow(),
        **kw,
    }
    return _save(Contact(**values))


def make_user(role: Role = Role.coordinator, **kw: Any) -> User:
    """A user with a valid scope for its role (created on the fly unless given) and the password PASSWORD."""
    n = _n()
    password = kw.pop("password", PASSWORD)
    values: dict[str, Any] = {
        "email": f"user{n}@example.com",
        "name": f"사용자{n}",
        "role": role,
        "email_verified_at": utcnow(),
    }
    if role is Role.coordinator and "institution" not in kw and "institution_id" not in kw:
        kw["institution"] = make_institution(kw.pop("consortium", None))
    if role is Role.coordinator and "institution" in kw:
        kw.setdefault("consortium", kw["institution"].consortium)
    if role is Role.consortium_manager and "consortium" not in kw:
        kw["consortium"] = make_consortium()
    if role is Role.firm_user and "firm" not in kw:
        kw["firm"] = make_firm()
    values.update(kw)
    return _save(User(password_hash=hash_password(password), **values))


def make_firm_link(
    firm: Firm, consortium: Consortium, institution: Institution | None = None, **kw: Any
) -> FirmLink:
    """Relates a firm to a consortium (through an institution, whose coordinators then see its contacts)."""
    values = {
        "firm": firm,
        "consortium_id": consortium.id,
        "institution_id": institution.id if institution else None,
        "kind": LinkKind.registered,
        **kw,
    }
    return _save(FirmLink(**values))


def make_user_session(user: User | None = None, **kw: Any) -> UserSession:
    """A signed-in browser row for `user`; the key itself is not kept, so it cannot be replayed."""
    user = user or make_user()
    return _save(UserSession(**{"user_id": user.id, "key_hash": hash_token(UserSession.new_key()), **kw}))


def make_login_failure(email: str = "someone@example.com", **kw: Any) -> LoginFailure:
    return _save(LoginFailure(**{"email": email, "ip": "127.0.0.1", **kw}))


def make_audit_event(obj: Any = None, action: str = "test.action", **kw: Any) -> AuditEvent:
    obj = obj or make_consortium()
    return _save(
        AuditEvent(
            **{"action": action, "object_type": obj.__tablename__, "object_id": obj.id, "changes": {}, **kw}
        )
    )


def make_access_log(subject: Any = None, actor: User | None = None, **kw: Any) -> AccessLog:
    subject = subject or make_firm()
    actor = actor or make_user()
    return _save(
        AccessLog(
            **{
                "actor_id": actor.id,
                "action": "view_contacts",
                "subject_type": subject.__tablename__,
                "subject_id": subject.id,
                **kw,
            }
        )
    )


def make_email_token(user: User | None = None, token: str = "", **kw: Any) -> EmailToken:
    """A verification link for `user`; pass `token` to know the secret the link carries."""
    user = user or make_user(Role.firm_user)
    values = {
        "user_id": user.id,
        "purpose": "verify_email",
        "token_hash": hash_token(token or f"token-{_n()}"),
        "expires_at": utcnow() + timedelta(hours=24),
        **kw,
    }
    return _save(EmailToken(**values))


def make_firm_claim(user: User | None = None, firm: Firm | None = None, **kw: Any) -> FirmClaim:
    user = user or make_user(Role.firm_user, firm=None)
    firm = firm or make_firm()
    return _save(FirmClaim(**{"user_id": user.id, "firm_id": firm.id, **kw}))


def _link_once(firm: Firm, programme: Programme, kind: LinkKind) -> None:
    """Relates the firm to the programme's consortium and institution, as applying or engaging does."""
    link = {
        "firm_id": firm.id,
        "consortium_id": programme.programme_year.consortium_id,
        "institution_id": programme.institution_id,
        "kind": kind,
    }
    if db.session.scalar(sa.select(FirmLink.id).filter_by(**link)) is None:
        _save(FirmLink(**link))


def make_application(
    call: Call | None = None,
    firm: Firm | None = None,
    status: ApplicationStatus = ApplicationStatus.draft,
    **kw: Any,
) -> Application:
    """An application in `status` (no history rows: tests of transitions go through the operations).
    The firm is linked to the call's consortium as an applicant, as applying does."""
    call = call or make_call()
    firm = firm or make_firm()
    _link_once(firm, call.programme, LinkKind.applied)
    values: dict[str, Any] = {
        "call": call,
        "firm": firm,
        "status": status,
        "answers": {"goal": "불량 검출 자동화"},
    }
    if status is not ApplicationStatus.draft:
        values["submitted_at"] = utcnow()
    values.update(kw)
    return _save(Application(**values))


def make_application_history(application: Application | None = None, **kw: Any) -> ApplicationHistory:
    application = application or make_application()
    values = {"application": application, "from_status": None, "to_status": application.status, **kw}
    return _save(ApplicationHistory(**values))


def make_declared_support(application: Application | None = None, **kw: Any) -> DeclaredSupport:
    values = {
        "application": application or make_application(),
        "agency": "중소벤처기업진흥공단",
        "programme_name": "스마트공장 구축 지원",
        "track": Track.adoption,
        "started_on": date(2025, 3, 1),
        "ended_on": date(2025, 12, 31),
        "amount_krw": 50_000_000,
        **kw,
    }
    return _save(DeclaredSupport(**values))


def make_document(application: Application | None = None, **kw: Any) -> Document:
    """A document row only; tests that need the bytes upload through the operation."""
    n = _n()
    if "engagement_id" not in kw and "application_id" not in kw:
        kw["application_id"] = (application or make_application()).id
    values = {
        "kind": "business_plan",
        "filename": f"사업계획서{n}.pdf",
        "stored_name": f"test-{n:08d}.pdf",
        "content_type": "application/pdf",
        "size": 1024,
        "sha256": "0" * 64,
        **kw,
    }
    return _save(Document(**values))


def make_sanction(firm: Firm | None = None, **kw: Any) -> Sanction:
    values = {
        "firm": firm or make_firm(),
        "kind": SanctionKind.participation_ban,
        "basis": "협약 위반에 따른 참여제한",
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2028, 12, 31),
        **kw,
    }
    return _save(Sanction(**values))


def make_engagement(programme: Programme | None = None, firm: Firm | None = None, **kw: Any) -> Engagement:
    """An engagement, its firm linked to the programme's consortium as engaged."""
    programme = programme or make_programme()
    firm = firm or make_firm()
    _link_once(firm, programme, LinkKind.engaged)
    values = {"programme": programme, "firm": firm, "status": EngagementStatus.pending_agreement, **kw}
    return _save(Engagement(**values))


def make_engagement_history(engagement: Engagement | None = None, **kw: Any) -> EngagementHistory:
    engagement = engagement or make_engagement()
    values = {"engagement": engagement, "from_status": None, "to_status": engagement.status, **kw}
    return _save(EngagementHistory(**values))


def make_agreement_change(engagement: Engagement | None = None, **kw: Any) -> AgreementChange:
    values = {
        "engagement": engagement or make_engagement(),
        "reason": "공급기업 일정 변경에 따른 협약기간 연장",
        "proposed": {"ends_on": "2026-12-31"},
        **kw,
    }
    return _save(AgreementChange(**values))


def make_milestone(engagement: Engagement | None = None, **kw: Any) -> Milestone:
    values = {
        "engagement": engagement or make_engagement(),
        "kind": "kickoff",
        "title": "착수보고",
        "anchor": "start",
        "offset_days": 14,
        "due_on": date(2026, 5, 15),
        "owner": MilestoneOwner.firm,
        **kw,
    }
    return _save(Milestone(**values))


def make_activity(engagement: Engagement | None = None, **kw: Any) -> Activity:
    engagement = engagement or make_engagement()
    values = {
        "firm_id": engagement.firm_id,
        "engagement": engagement,
        "kind": ActivityKind.consulting_session,
        "occurred_on": date(2026, 5, 20),
        "hours": 2,
        "participants": "대표이사, 담당 컨설턴트",
        "summary": "데이터 현황 점검 및 도입 범위 협의",
        **kw,
    }
    return _save(Activity(**values))


def make_kpi_row(engagement: Engagement | None = None, **kw: Any) -> KpiRow:
    values = {
        "engagement": engagement or make_engagement(),
        "indicator": "매출",
        "unit": "백만원",
        "baseline": 1200,
        "target": 1500,
        **kw,
    }
    return _save(KpiRow(**values))


def make_outcome_survey(engagement: Engagement | None = None, **kw: Any) -> OutcomeSurvey:
    values = {
        "engagement": engagement or make_engagement(status=EngagementStatus.closed),
        "round": 1,
        "due_on": date(2027, 12, 31),
        **kw,
    }
    return _save(OutcomeSurvey(**values))


def make_training_session(programme: Programme | None = None, **kw: Any) -> TrainingSession:
    values = {
        "programme": programme or make_programme(track=Track.training),
        "course": "재직자 생성형 AI 실무",
        "held_on": date(2026, 6, 10),
        "hours": 4,
        "place": "울산정보산업진흥원 교육장",
        "capacity": 30,
        **kw,
    }
    return _save(TrainingSession(**values))


def make_training_registration(session: TrainingSession | None = None, **kw: Any) -> TrainingRegistration:
    n = _n()
    values = {
        "session": session or make_training_session(),
        "name": f"수강생{n}",
        "email": f"trainee{n}@example.com",
        **kw,
    }
    return _save(TrainingRegistration(**values))


def make_gpu_allocation(engagement: Engagement | None = None, **kw: Any) -> GpuAllocation:
    values = {
        "engagement": engagement or make_engagement(make_programme(track=Track.infrastructure)),
        "hours_granted": 500,
        "granted_on": date(2026, 5, 1),
        **kw,
    }
    return _save(GpuAllocation(**values))


def make_gpu_usage(allocation: GpuAllocation | None = None, **kw: Any) -> GpuUsage:
    values = {
        "allocation": allocation or make_gpu_allocation(),
        "used_on": date(2026, 5, 10),
        "hours": 12,
        **kw,
    }
    return _save(GpuUsage(**values))


def make_diagnosis_result(firm: Firm | None = None, **kw: Any) -> DiagnosisResult:
    values = {
        "firm": firm or make_firm(),
        "year": 2026,
        "questionnaire_version": "2026.1",
        **kw,
    }
    return _save(DiagnosisResult(**values))


def make_evaluator_assignment(
    application: Application | None = None, evaluator: User | None = None, **kw: Any
) -> EvaluatorAssignment:
    values = {
        "application": application or make_application(status=ApplicationStatus.document_review),
        "evaluator": evaluator or make_user(Role.evaluator),
        "status": AssignmentStatus.awaiting_declaration,
        **kw,
    }
    return _save(EvaluatorAssignment(**values))


def make_score(assignment: EvaluatorAssignment | None = None, **kw: Any) -> Score:
    values = {
        "assignment": assignment or make_evaluator_assignment(),
        "criterion_key": "feasibility",
        "value": 7,
    }
    values.update(kw)
    return _save(Score(**values))


def make_notice(**kw: Any) -> Notice:
    values = {
        "kind": NoticeKind.status_change,
        "subject": "[AX CRM] 접수 완료",
        "body": "신청이 접수되었습니다.",
        **kw,
    }
    return _save(Notice(**values))


def make_delivery(notice: Notice | None = None, **kw: Any) -> Delivery:
    n = _n()
    values = {"notice": notice or make_notice(), "recipient": f"recipient{n}@example.com", **kw}
    return _save(Delivery(**values))


def make_firm_activity(firm: Firm | None = None, **kw: Any) -> Activity:
    """An activity with the firm outside any engagement."""
    values = {
        "firm_id": (firm or make_firm()).id,
        "engagement_id": None,
        "kind": ActivityKind.meeting,
        "occurred_on": date(2026, 5, 20),
        "hours": 1,
        "participants": "대표이사",
        "summary": "AI 전환 수요 상담",
        **kw,
    }
    return _save(Activity(**values))


def make_reminder(milestone: Milestone | None = None, **kw: Any) -> Reminder:
    milestone = milestone or make_milestone()
    values = {"milestone_id": milestone.id, "rule": ReminderRule.d7, "due_on": milestone.due_on, **kw}
    return _save(Reminder(**values))


def make_heartbeat(**kw: Any) -> Heartbeat:
    values = {"name": f"worker{_n()}@test", **kw}
    return _save(Heartbeat(**values))


def make_calendar_token(user: User | None = None, secret: str = "", **kw: Any) -> Any:
    """A live iCal feed for `user`; pass `secret` to know the address's token (only its hash is stored)."""

    user = user or make_user(Role.coordinator)
    values = {"user_id": user.id, "token_hash": hash_token(secret or f"calendar-{_n()}"), **kw}
    return _save(CalendarToken(**values))


# Imported here, with the factories below, so the tables are known even before any app is created.
from crm.imports.models import ImportJob, ImportRow, ImportStatus, RowAction  # noqa: E402


def make_import_job(user: User | None = None, **kw: Any) -> ImportJob:
    """An uploaded import (a CSV of three columns) by a manager, scoped to the manager's consortium; the file
    itself is not written, so only the pages and the rows work with it, not a new dry run."""
    user = user or make_user(Role.consortium_manager)
    values = {
        "filename": "firms.csv",
        "stored_name": f"{_n():032x}",
        "file_format": "csv",
        "size": 120,
        "sha256": "0" * 64,
        "headers": ["사업자등록번호", "기업명", "종업원수"],
        "mapping": {"brn": 0, "name": 1, "employees": 2},
        "row_count": 1,
        "status": ImportStatus.uploaded,
        "created_by_id": user.id,
        "consortium_id": user.scope_consortium_id,
        "institution_id": user.institution_id if user.role is Role.coordinator else None,
        **kw,
    }
    return _save(ImportJob(**values))


def make_import_row(job: ImportJob | None = None, **kw: Any) -> ImportRow:
    job = job or make_import_job()
    brn = kw.pop("brn", make_brn())
    values = {
        "job_id": job.id,
        "row_number": _n() + 1,
        "action": RowAction.create,
        "brn": brn,
        "name": "(주)가져온기업",
        "raw": {"brn": brn, "name": "(주)가져온기업", "employees": "12"},
        **kw,
    }
    return _save(ImportRow(**values))


def make_api_token(user: User | None = None, **kw: Any) -> Any:

    n = _n()
    values = {
        "user_id": (user or make_user()).id,
        "token_hash": hash_token(f"axcrm_test_{n}"),
        "expires_at": utcnow() + timedelta(days=30),
        **kw,
    }
    return _save(ApiToken(**values))
