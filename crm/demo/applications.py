"""Demo applications: every call that has opened gets applicants at believable stages, with documents,
history, evaluator assignments and the engagements their selection created. Rows are written directly
(not through the operations) so seeding sends no mail and stays fast."""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from crm.applications.models import Application, ApplicationHistory, ApplicationStatus, DeclaredSupport
from crm.applications.operations import create_engagement, link_firm, review_path
from crm.applications.rules import eligibility_problems
from crm.auth.models import Role, User
from crm.documents.models import Document
from crm.documents.storage import store_upload
from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment, Score
from crm.extensions import db
from crm.firms.models import Firm, FirmLink, LinkKind
from crm.programmes.models import Call, CallStatus, Track
from crm.sanctions.models import Sanction, SanctionKind

S = ApplicationStatus
DEMO_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
CRITERIA = [
    {"key": "feasibility", "label": "실현가능성", "weight": 40, "max_score": 10},
    {"key": "impact", "label": "기대효과", "weight": 35, "max_score": 10},
    {"key": "capability", "label": "수행역량", "weight": 25, "max_score": 10},
]
ANSWERS = {
    "goal": "비전 검사 자동화로 불량률 30% 절감",
    "problem": "육안 검사에 의존해 야간 불량 유출이 잦음",
    "data": "3년치 검사 이미지 약 12만 장",
    "supplier": "",
}
# Where applicants of a call that has closed stand, in order of their (made-up) scores.
CLOSED_CALL_OUTCOMES = [S.selected] * 4 + [S.reserve, S.rejected, S.rejected, S.ineligible, S.withdrawn]
OPEN_CALL_OUTCOMES = [S.eligibility, S.submitted, S.submitted, S.draft]


class ApplicationSeeder:
    def __init__(self, rng: random.Random, now: datetime, today: date) -> None:
        self.rng = rng
        self.now = now
        self.today = today
        self.coordinators = {
            u.institution_id: u
            for u in db.session.scalars(
                sa.select(User).where(User.role == Role.coordinator).order_by(User.id)
            )
        }
        self.evaluator = db.session.scalar(
            sa.select(User).where(User.role == Role.evaluator).order_by(User.id)
        )

    def seed(self, calls: list[Call], demo_firms: dict[str, Firm]) -> None:
        used: set[tuple[int, Track]] = set()
        for call in calls:
            call.criteria = [dict(c) for c in CRITERIA]
        for call in sorted(calls, key=lambda c: c.opens_at):
            status = call.status(self.now)
            if status is CallStatus.upcoming:
                continue
            outcomes = CLOSED_CALL_OUTCOMES if status is CallStatus.closed else OPEN_CALL_OUTCOMES
            for firm, outcome in zip(self._applicants(call, len(outcomes), used), outcomes, strict=False):
                self.application(call, firm, outcome)
        self._demo_firm_cases(calls, demo_firms)

    def _applicants(self, call: Call, count: int, used: set[tuple[int, Track]]) -> list[Firm]:
        programme = call.programme
        firms = db.session.scalars(
            sa.select(Firm)
            .join(FirmLink, FirmLink.firm_id == Firm.id)
            .where(FirmLink.consortium_id == programme.consortium_id, Firm.is_supplier.is_(False))
            .order_by(Firm.id)
            .distinct()
        ).all()
        # A firm applies once per track: the demo should not trip its own duplicate-support guard.
        candidates = [f for f in firms if (f.id, programme.track) not in used]
        chosen = self.rng.sample(candidates, min(count, len(candidates)))
        used.update((f.id, programme.track) for f in chosen)
        return chosen

    def _demo_firm_cases(self, calls: list[Call], demo_firms: dict[str, Firm]) -> None:
        """The demo firm accounts each have something to do: a supplement to send, a draft to finish."""
        smart_factory, taehwa = demo_firms["(주)울산스마트팩토리"], demo_firms["태화정밀(주)"]
        consortium_ids = {link.consortium_id for link in smart_factory.links}
        by_track = {
            c.programme.track: c
            for c in calls
            if c.status(self.now) is CallStatus.open and c.programme.consortium_id in consortium_ids
        }
        if Track.adoption in by_track:
            application = self.application(by_track[Track.adoption], smart_factory, S.supplement_requested)
            application.supplement_message = (
                "국세 완납증명서가 만료되었습니다. 최근 발급본으로 다시 올려 주세요."
            )
            application.supplement_due_on = self.today + timedelta(days=5)
            seed_declared_support(application)
        if Track.validation in by_track:
            self.application(by_track[Track.validation], taehwa, S.draft)

    def application(self, call: Call, firm: Firm, outcome: ApplicationStatus) -> Application:
        programme = call.programme
        questions = {q["key"] for q in call.questions}
        application = Application(
            call=call, firm=firm, status=outcome, answers={k: v for k, v in ANSWERS.items() if k in questions}
        )
        db.session.add(application)
        link_firm(firm, programme, LinkKind.applied)
        db.session.flush()
        steps = self._path_to(application, outcome)
        at = max(call.opens_at, self.now - timedelta(days=60)) + timedelta(hours=self.rng.randint(2, 72))
        actor = self.coordinators.get(programme.institution_id)
        previous: ApplicationStatus | None = None
        for step in steps:
            staff_move = step not in (S.draft, S.submitted, S.withdrawn)
            reason = _REASONS.get(step, "")
            db.session.add(
                ApplicationHistory(
                    application_id=application.id,
                    from_status=previous,
                    to_status=step,
                    actor_id=actor.id if staff_move and actor else None,
                    at=min(at, self.now),
                    reason=reason,
                )
            )
            if step is S.submitted:
                application.submitted_at = min(at, self.now)
            previous = step
            at += timedelta(days=self.rng.randint(1, 4), hours=self.rng.randint(0, 8))
        if outcome is not S.draft:
            self._documents(application)
        if outcome in (S.selected, S.reserve, S.rejected, S.ineligible):
            application.decided_at = min(at, self.now)
            application.decision_reason = _REASONS.get(outcome, "")
        if outcome is S.ineligible:
            self._sanction(firm)
        if S.eligibility in steps:
            application.eligibility_result = {
                "checked_at": self.now.isoformat(),
                "problems": [p.as_dict() for p in eligibility_problems(application, self.today)],
            }
        if outcome is S.selected:
            create_engagement(application, actor)
        if S.document_review in steps and self.evaluator is not None:
            self._evaluation(application, submitted=outcome is not S.document_review)
        return application

    def _path_to(self, application: Application, outcome: ApplicationStatus) -> list[ApplicationStatus]:
        path = review_path(application.programme)
        if outcome in (S.draft, S.submitted):
            return [S.draft, S.submitted][: [S.draft, S.submitted].index(outcome) + 1]
        if outcome is S.withdrawn:
            return [S.draft, S.submitted, S.withdrawn]
        if outcome in (S.eligibility, S.supplement_requested, S.ineligible):
            return [S.draft, S.submitted, S.eligibility] + ([outcome] if outcome is not S.eligibility else [])
        if outcome in (S.document_review, S.presentation):
            return [S.draft, S.submitted, *path[: path.index(outcome) + 1]]
        return [S.draft, S.submitted, *path, outcome]

    def _documents(self, application: Application) -> None:
        for document in application.call.required_documents:
            stored = store_upload(io.BytesIO(DEMO_PDF), f"{document['label']}.pdf", len(DEMO_PDF))
            db.session.add(
                Document(
                    application_id=application.id,
                    kind=document["kind"],
                    filename=f"{application.firm.name}_{document['label']}.pdf",
                    stored_name=stored.stored_name,
                    content_type=stored.content_type,
                    size=stored.size,
                    sha256=stored.sha256,
                    uploaded_at=application.submitted_at or self.now,
                )
            )
        db.session.flush()
        db.session.refresh(application, ["documents"])

    def _sanction(self, firm: Firm) -> None:
        db.session.add(
            Sanction(
                firm=firm,
                kind=SanctionKind.participation_ban,
                basis="협약 의무 위반(중도 포기)에 따른 참여제한 1년",
                starts_on=self.today - timedelta(days=120),
                ends_on=self.today + timedelta(days=245),
            )
        )
        db.session.flush()

    def _evaluation(self, application: Application, submitted: bool) -> None:
        assignment = EvaluatorAssignment(
            application_id=application.id,
            evaluator_id=self.evaluator.id,
            status=AssignmentStatus.submitted if submitted else AssignmentStatus.awaiting_declaration,
            declared_at=self.now if submitted else None,
            submitted_at=self.now if submitted else None,
            comment="현장 문제 정의가 구체적이고 데이터가 충분함" if submitted else "",
        )
        if submitted:
            assignment.scores = [
                Score(criterion_key=c["key"], value=self.rng.randint(5, 10))
                for c in application.call.criteria
            ]
        db.session.add(assignment)


_REASONS = {
    S.selected: "서류·발표 평가 결과 상위 기업",
    S.reserve: "예비 1순위",
    S.rejected: "평가 점수 기준 미달",
    S.ineligible: "참여제한 기간 중인 기업",
    S.withdrawn: "내부 사정으로 신청 취소",
}


def seed_declared_support(application: Application) -> DeclaredSupport:
    """Support of another track the firm declared: shown on the application, not blocking."""
    support = DeclaredSupport(
        application=application,
        agency="중소벤처기업진흥공단",
        programme_name="스마트공장 구축 지원",
        track=None,
        started_on=date(2024, 4, 1),
        ended_on=date(2024, 12, 31),
        amount_krw=50_000_000,
    )
    db.session.add(support)
    return support
