"""Demo cohort notices: per consortium, one sent to an engagement cohort days ago (one address bounced, so
the retry button has something to do) and one scheduled for tomorrow morning to a call's applicants.
Written through the audience resolver so the text is personalised as in real use; the sent ones are
marked sent, so a running worker does not send them again. Never commits."""

from __future__ import annotations

import random
from datetime import date, time, timedelta

import sqlalchemy as sa

from crm.applications.models import Application, ApplicationStatus
from crm.auth.models import Role, User
from crm.core.time import kst_to_utc
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.notices import audience as audiences
from crm.notices.models import DeliveryStatus, Notice, NoticeKind, NoticeStatus
from crm.notices.outbox import queue_notice
from crm.programmes.models import Call, Programme

SENT_SUBJECT = "[{programme}] 중간보고서 제출 안내"
SENT_BODY = (
    "{contact_name}님, 안녕하세요.\n"
    "{firm_name}의 {programme} 중간보고서 제출 기한이 다가와 안내드립니다.\n"
    "협약 종료일: {due_on}\n"
    "양식은 AX CRM 포털의 '내 지원과제'에서 내려받을 수 있습니다.\n\n"
    "문의: 사업 담당자"
)
SCHEDULED_SUBJECT = "[{call}] 신청서 검토 일정 안내"
SCHEDULED_BODY = (
    "{contact_name}님, {call}에 신청해 주셔서 감사합니다.\n"
    "{firm_name}의 신청서는 공고 마감({due_on}) 후 서면평가를 거쳐 결과를 알려드립니다.\n"
    "진행 상황은 AX CRM 포털에서 확인할 수 있습니다."
)
BOUNCE = "SMTP 550: 5.1.1 Recipient address rejected: User unknown in virtual mailbox table"


def seed_notices(rng: random.Random, today: date) -> None:
    if db.session.scalar(
        sa.select(Notice.id).where(Notice.kind == NoticeKind.cohort, _demo_cohort()).limit(1)
    ):
        return
    coordinators = db.session.scalars(
        sa.select(User).where(User.role == Role.coordinator, User.is_active.is_(True)).order_by(User.id)
    ).all()
    managers = db.session.scalars(
        sa.select(User)
        .where(User.role == Role.consortium_manager, User.is_active.is_(True))
        .order_by(User.id)
    ).all()
    covered = {c.scope_consortium_id for c in coordinators}
    # Every coordinator writes to its own cohorts; where a consortium has none, its manager does.
    composers = [*coordinators, *(m for m in managers if m.scope_consortium_id not in covered)]
    for composer in composers:
        if composer.scope_consortium_id is None:
            continue
        _sent_to_engagements(rng, today, composer)
        _scheduled_for_applicants(today, composer)
    db.session.flush()


def _demo_cohort() -> sa.ColumnElement[bool]:
    return Notice.audience["source"].as_string().in_(["call", "programme", "milestone"])


def _queue(audience: dict, subject: str, body: str, composer: User, send_at) -> Notice | None:
    addressees = audiences.resolve(audience, composer)
    if not addressees:
        return None
    by_address = {a.recipient.email.strip().lower(): a for a in addressees}

    def personalise(recipient):
        values = audiences.values_for(by_address[recipient.email.strip().lower()])
        return audiences.render(subject, values), audiences.render(body, values)

    stored = {
        **audience,
        **audiences.scope_of(audience, composer),
        "firms": len({a.member.firm.id for a in addressees}),
    }
    return queue_notice(
        kind=NoticeKind.cohort,
        subject=subject,
        body=body,
        recipients=[a.recipient for a in addressees],
        created_by=composer,
        send_at=send_at,
        audience=stored,
        personalise=personalise,
    )


def _sent_to_engagements(rng: random.Random, today: date, composer: User) -> None:
    programme_id = db.session.scalar(
        sa.select(Engagement.programme_id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(audiences.reachable_programmes(composer), Engagement.status == EngagementStatus.in_progress)
        .group_by(Engagement.programme_id)
        .order_by(sa.func.count(Engagement.id).desc(), Engagement.programme_id)
        .limit(1)
    )
    if programme_id is None:
        return
    days_ago = rng.randint(3, 6)
    sent_at = kst_to_utc(today - timedelta(days=days_ago), at=time(10, 0))
    audience = {"source": "programme", "programme_id": programme_id, "statuses": ["in_progress"]}
    notice = _queue(audience, SENT_SUBJECT, SENT_BODY, composer, sent_at)
    if notice is None:
        return
    bounced = rng.randrange(len(notice.deliveries)) if len(notice.deliveries) > 2 else None
    for index, delivery in enumerate(notice.deliveries):
        delivery.attempts = 1
        delivery.claimed_at = delivery.enqueued_at = sent_at + timedelta(seconds=index)
        if index == bounced:
            delivery.status, delivery.last_error = DeliveryStatus.failed, BOUNCE
        else:
            delivery.status = DeliveryStatus.sent
            delivery.sent_at = sent_at + timedelta(seconds=index + 1)
    notice.status = NoticeStatus.done
    notice.created_at = sent_at - timedelta(minutes=rng.randint(5, 40))


def _scheduled_for_applicants(today: date, composer: User) -> None:
    call_id = db.session.scalar(
        sa.select(Application.call_id)
        .join(Call, Application.call_id == Call.id)
        .join(Programme, Call.programme_id == Programme.id)
        .where(audiences.reachable_programmes(composer), Application.status == ApplicationStatus.submitted)
        .group_by(Application.call_id)
        .order_by(sa.func.count(Application.id).desc(), Application.call_id)
        .limit(1)
    )
    if call_id is None:
        return
    audience = {"source": "call", "call_id": call_id, "statuses": ["submitted"]}
    send_at = kst_to_utc(today + timedelta(days=1), at=time(10, 0))
    _queue(audience, SCHEDULED_SUBJECT, SCHEDULED_BODY, composer, send_at)
