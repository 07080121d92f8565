"""Demo engagements: the selected applicants' engagements moved along their lifecycle (agreement terms,
history, milestones planned by the operations' own planners, settlements), direct diagnosis engagements,
and one running engagement for each demo firm user with something due soon. Rows are written directly, so
seeding sends no mail."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from crm.applications.operations import link_firm
from crm.core.db import utcnow
from crm.core.time import kst_to_utc
from crm.engagements.models import Engagement, EngagementHistory, EngagementStatus
from crm.extensions import db
from crm.firms.models import Firm, LinkKind
from crm.milestones import operations as milestones
from crm.milestones.models import Milestone, MilestoneOwner
from crm.programmes.models import Programme, Track

E = EngagementStatus
MILLION = 1_000_000
# Where the engagements of a programme year stand: those of a year that has ended are mostly closed.
ENDED_YEAR = [E.closed, E.follow_up, E.closed, E.terminated, E.closed, E.follow_up]
RUNNING_YEAR = [E.in_progress, E.agreed, E.in_progress, E.pending_agreement, E.final_report, E.in_progress]
DEMO_FIRM_USERS_FIRMS = ("(주)울산스마트팩토리", "태화정밀(주)")


class EngagementSeeder:
    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.suppliers = db.session.scalars(sa.select(Firm).where(Firm.is_supplier.is_(True))).all()

    def seed(self) -> None:
        engagements = db.session.scalars(sa.select(Engagement).order_by(Engagement.id)).all()
        for index, engagement in enumerate(engagements):
            year = engagement.programme.programme_year
            if year.starts_on > self.today:
                continue
            plan = ENDED_YEAR if year.ends_on < self.today else RUNNING_YEAR
            self.advance(engagement, plan[index % len(plan)])
        self.direct_diagnosis()
        self.demo_firm_users()
        db.session.flush()

    # --- terms and moves ------------------------------------------------------------------------------

    def terms(self, engagement: Engagement, starts_on: date, ends_on: date) -> None:
        programme = engagement.programme
        engagement.agreed_on = starts_on - timedelta(days=self.rng.randint(3, 10))
        engagement.starts_on, engagement.ends_on = starts_on, ends_on
        if programme.track in (Track.diagnosis, Track.consulting, Track.training):
            engagement.gov_krw, engagement.local_krw = 3 * MILLION, 2 * MILLION
            return
        cap = (programme.per_firm_cap_krw or 100 * MILLION) // MILLION
        public = self.rng.randint(cap // 2, cap * 9 // 10)  # 국비 + 지방비, in 백만원
        total = public * 100 // 85  # the firm brings 15 %
        gov = min(public * 2 // 3, total * 60 // 100)
        engagement.gov_krw = gov * MILLION
        engagement.local_krw = (public - gov) * MILLION
        own = total - public
        engagement.self_cash_krw = (own - own // 3) * MILLION
        engagement.self_inkind_krw = (own // 3) * MILLION
        if programme.track is Track.adoption and self.suppliers:
            supplier = self.rng.choice(
                [f for f in self.suppliers if f.id != engagement.firm_id] or self.suppliers
            )
            engagement.supplier_firm_id = supplier.id
            engagement.solution = self.rng.choice(
                ["비전 검사 AI", "수요예측 AI", "설비 예지보전 AI", "AI 챗봇 상담", "공정 최적화 AI"]
            )

    def period(self, engagement: Engagement, ended: bool) -> tuple[date, date]:
        year = engagement.programme.programme_year
        if ended:
            starts_on = year.starts_on + timedelta(days=self.rng.randint(20, 60))
            return starts_on, min(starts_on + timedelta(days=180), year.ends_on - timedelta(days=30))
        starts_on = max(year.starts_on, self.today - timedelta(days=self.rng.randint(15, 60)))
        return starts_on, min(starts_on + timedelta(days=240), year.ends_on)

    def path(self, engagement: Engagement, target: EngagementStatus) -> list[EngagementStatus]:
        money = engagement.has_settlement
        full = [E.agreed, E.in_progress, E.final_report, E.final_check]
        full += [E.settlement, E.closed, E.follow_up] if money else [E.closed, E.follow_up]
        if target is E.pending_agreement:
            return []
        if target is E.terminated:
            return [E.agreed, E.in_progress, E.terminated]
        return full[: full.index(target) + 1]

    def advance(self, engagement: Engagement, target: EngagementStatus) -> None:
        ended = target in (E.closed, E.follow_up, E.terminated)
        steps = self.path(engagement, target)
        if not steps:
            return
        starts_on, ends_on = self.period(engagement, ended)
        self.terms(engagement, starts_on, ends_on)
        moments = self.moments(engagement, steps)
        for row in engagement.history:  # selected (or registered) before the agreement was signed
            row.at = min(row.at, moments[0] - timedelta(days=self.rng.randint(7, 20)))
        previous = engagement.status
        for status, at in zip(steps, moments, strict=True):
            reason = "협약 위반(사업비 목적 외 사용)에 따른 협약해지" if status is E.terminated else ""
            db.session.add(
                EngagementHistory(
                    engagement_id=engagement.id,
                    from_status=previous,
                    to_status=status,
                    at=at,
                    actor_id=engagement.coordinator_id,
                    reason=reason,
                )
            )
            previous = status
        engagement.status = target
        engagement.status_changed_at = moments[-1]
        if target in (E.closed, E.follow_up):
            engagement.closed_on = min(self.today, ends_on + timedelta(days=45))
            if engagement.has_settlement:
                spent = engagement.public_krw - self.rng.randint(0, 3) * MILLION
                engagement.settlement_spent_krw = spent
                engagement.settlement_returned_krw = engagement.public_krw - spent
        db.session.flush()
        milestones.plan_from_templates(engagement, milestones.ANCHORS_ON_AGREEMENT, None)
        milestones.plan_deadlines(engagement, None)
        if engagement.closed_on is not None:
            milestones.plan_from_templates(engagement, (milestones.ANCHOR_ON_CLOSING,), None)
            from crm.outcomes.operations import schedule_survey_rounds

            schedule_survey_rounds(engagement, None)
        self.settle_milestones(engagement, terminated=target is E.terminated)

    def moments(self, engagement: Engagement, steps: list[EngagementStatus]) -> list[datetime]:
        """When each step happened: agreed a few days before the start, the rest spread up to today."""
        assert engagement.agreed_on is not None and engagement.ends_on is not None
        first = kst_to_utc(engagement.agreed_on, time(10, 0))
        last = min(
            kst_to_utc(engagement.ends_on + timedelta(days=40), time(16, 0)), utcnow() - timedelta(hours=2)
        )
        if len(steps) == 1:
            return [first]
        gap = (last - first) / (len(steps) - 1)
        return [first + gap * i for i in range(len(steps))]

    def settle_milestones(self, engagement: Engagement, terminated: bool) -> None:
        """Past milestones are mostly done, a few left overdue so the lists have something to show."""
        now = utcnow()
        for milestone in db.session.scalars(
            sa.select(Milestone).where(Milestone.engagement_id == engagement.id)
        ):
            if milestone.due_on >= self.today:
                continue
            if terminated:
                milestone.waived_at, milestone.waive_reason = now, "협약해지"
            elif self.rng.random() < 0.85:
                milestone.done_at = kst_to_utc(
                    milestone.due_on - timedelta(days=self.rng.randint(0, 5)), time(15)
                )
                milestone.note = "제출 완료"

    # --- engagements without a call -----------------------------------------------------------------------

    def direct_diagnosis(self) -> None:
        programmes = db.session.scalars(
            sa.select(Programme).where(Programme.track == Track.diagnosis).order_by(Programme.id)
        ).all()
        taken = set(db.session.scalars(sa.select(Engagement.firm_id)))
        firms = [f for f in db.session.scalars(sa.select(Firm).order_by(Firm.id)) if f.id not in taken]
        self.rng.shuffle(firms)
        for programme in programmes:
            year = programme.programme_year
            if year.starts_on > self.today:
                continue
            ended = year.ends_on < self.today
            for index in range(6):
                if not firms:
                    return
                engagement = self.engagement(programme, firms.pop())
                plan = (
                    [E.closed, E.follow_up] if ended else [E.in_progress, E.agreed, E.final_report, E.closed]
                )
                self.advance(engagement, plan[index % len(plan)])

    def engagement(self, programme: Programme, firm: Firm) -> Engagement:
        engagement = Engagement(firm_id=firm.id, programme_id=programme.id, status=E.pending_agreement)
        db.session.add(engagement)
        link_firm(firm, programme, LinkKind.engaged)
        db.session.flush()
        db.session.add(
            EngagementHistory(
                engagement_id=engagement.id,
                from_status=None,
                to_status=E.pending_agreement,
                reason="직접 등록",
            )
        )
        return engagement

    def demo_firm_users(self) -> None:
        """Each demo firm user's firm runs an engagement with a report due in a few days; the second one also
        closed an AI-solution adoption last year, so its outcome survey waits for an answer in the portal."""
        self.closed_last_year(DEMO_FIRM_USERS_FIRMS[-1], Track.adoption)
        for name in DEMO_FIRM_USERS_FIRMS:
            firm = db.session.scalar(sa.select(Firm).where(Firm.name == name))
            if firm is None:
                continue
            running = db.session.scalar(
                sa.select(Engagement).where(Engagement.firm_id == firm.id, Engagement.status == E.in_progress)
            )
            if running is None:
                programme = self.current_programme(Track.validation) or self.current_programme(
                    Track.diagnosis
                )
                if programme is None:
                    continue
                running = self.engagement(programme, firm)
                self.advance(running, E.in_progress)
            db.session.add(
                Milestone(
                    engagement_id=running.id,
                    kind="interim_report",
                    title="중간 실적보고서 제출",
                    due_on=self.today + timedelta(days=5),
                    owner=MilestoneOwner.firm,
                )
            )

    def closed_last_year(self, name: str, track: Track) -> None:
        firm = db.session.scalar(sa.select(Firm).where(Firm.name == name))
        if firm is None:
            return
        ended = [
            programme
            for programme in db.session.scalars(
                sa.select(Programme).where(Programme.track == track).order_by(Programme.id)
            )
            if programme.programme_year.ends_on < self.today
            and programme.programme_year.consortium.sido_code == firm.sido_code
        ]
        if ended:
            self.advance(self.engagement(ended[0], firm), E.closed)

    def current_programme(self, track: Track) -> Programme | None:
        for programme in db.session.scalars(
            sa.select(Programme).where(Programme.track == track).order_by(Programme.id)
        ):
            year = programme.programme_year
            if year.starts_on <= self.today <= year.ends_on:
                return programme
        return None
