"""Notice pages: the list, composing with a preview, a notice's deliveries with progress, cancel and
retry; and the notices a firm received, in the portal."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm.audit.operations import log_personal_data_access
from crm.auth.models import Role
from crm.core.access import allow
from crm.core.db import utcnow
from crm.core.exceptions import OperationError
from crm.core.formatting import format_datetime
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.exports.csvexport import ADDRESS, NAME, column, csv_response, personal, wants_csv
from crm.extensions import db
from crm.firms.models import Contact
from crm.notices import cohort
from crm.notices.audience import summarise
from crm.notices.forms import CancelForm, ComposeForm, RetryForm
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind, NoticeStatus

bp = Blueprint("notices", __name__)

STAFF = (Role.admin, Role.consortium_manager, Role.coordinator)
OPEN_STATUSES = (DeliveryStatus.queued, DeliveryStatus.sending)


def _visible_notice(notice_id: int) -> Notice:
    notice = db.session.scalar(
        sa.select(Notice).where(Notice.id == notice_id, cohort.notice_visible_to(current_user))
    )
    if notice is None:
        abort(404)
    return notice


def _visible_delivery(delivery_id: int) -> Delivery:
    delivery = db.session.scalar(
        sa.select(Delivery)
        .join(Notice, Delivery.notice_id == Notice.id)
        .where(Delivery.id == delivery_id, cohort.notice_visible_to(current_user))
    )
    if delivery is None:
        abort(404)
    return delivery


def _enum_arg(name: str, enum_cls: type) -> object | None:
    try:
        return enum_cls(request.args.get(name, ""))
    except ValueError:
        return None


def _delivery_count(name: str, status: DeliveryStatus | None = None) -> sa.Label:
    counted = sa.select(sa.func.count(Delivery.id)).where(Delivery.notice_id == Notice.id)
    if status is not None:
        counted = counted.where(Delivery.status == status)
    return counted.correlate(Notice).scalar_subquery().label(name)


NOTICE_CSV_COLUMNS = [
    column(_l("Subject"), "Notice.subject"),
    column(_l("Kind"), "Notice.kind"),
    column(_l("Marketing"), "Notice.marketing"),
    column(_l("Audience"), lambda row: summarise(row.Notice.audience)),
    column(_l("Send at"), "Notice.send_at"),
    column(_l("Status"), "Notice.status"),
    column(_l("Written"), "Notice.created_at"),
    column(_l("Deliveries"), "deliveries"),
    column(_l("Sent"), "sent"),
    column(_l("Failed"), "failed"),
]

DELIVERY_CSV_COLUMNS = [
    personal(_l("Recipient"), "recipient_name", NAME),
    personal(_l("Recipient address"), "recipient", ADDRESS),
    column(_l("Channel"), "channel"),
    column(_l("Status"), "status"),
    column(_l("Attempts"), "attempts"),
    column(_l("Last error"), "last_error"),
    column(_l("Sent at"), "sent_at"),
]


@bp.route("/notices")
@allow(*STAFF)
def index():
    kind = _enum_arg("kind", NoticeKind)
    statement = sa.select(Notice).where(cohort.notice_visible_to(current_user))
    if kind is not None:
        statement = statement.where(Notice.kind == kind)
    statement = statement.order_by(Notice.send_at.desc(), Notice.id.desc())
    if wants_csv():
        statement = statement.add_columns(
            _delivery_count("deliveries"),
            _delivery_count("sent", DeliveryStatus.sent),
            _delivery_count("failed", DeliveryStatus.failed),
        )
        return csv_response("notices", statement, NOTICE_CSV_COLUMNS, title=_l("Notices"))
    page = paginate(statement)
    counts = cohort.delivery_counts([n.id for n in page.items])
    return render_template(
        "notices/index.html",
        page=page,
        counts=counts,
        kind=kind,
        kinds=NoticeKind,
        statuses=DeliveryStatus,
        summaries={n.id: summarise(n.audience) for n in page.items},
        may_compose=cohort.may_compose(current_user),
    )


@bp.route("/notices/new", methods=["GET", "POST"])
@allow(*STAFF)
def new():
    form = ComposeForm(actor=current_user)
    if not form.is_submitted():
        form.prefill(request.args)
    if form.validate_on_submit():
        data = form.to_data()
        try:
            if not form.send.data:  # "Preview": render for a real recipient, save nothing
                result = cohort.preview(data, current_user)
                db.session.commit()  # the access-log row of the contact shown
                return render_template("notices/compose.html", form=form, preview=result)
            notice = cohort.compose_notice(data, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            recipients = len(notice.deliveries)
            if notice.send_at > utcnow():
                message = _(
                    "The notice is scheduled for %(when)s to %(n)s recipient(s).",
                    when=format_datetime(notice.send_at),
                    n=recipients,
                )
            else:
                message = _("The notice is being sent to %(n)s recipient(s).", n=recipients)
            flash(message, "success")
            return redirect(url_for("notices.detail", notice_id=notice.id))
    return render_form("notices/compose.html", form=form, preview=None)


@bp.route("/notices/<int:notice_id>", methods=["GET", "POST"])
@allow(*STAFF)
def detail(notice_id: int):
    notice = _visible_notice(notice_id)
    status = _enum_arg("status", DeliveryStatus)
    statement = sa.select(Delivery).where(Delivery.notice_id == notice.id)
    if status is not None:
        statement = statement.where(Delivery.status == status)
    if wants_csv():
        # Whoever sees the notice sees its recipients on the page; the file masks them unless given a reason.
        return csv_response(
            "notice_deliveries",
            statement.order_by(Delivery.id),
            DELIVERY_CSV_COLUMNS,
            title=_l("Deliveries"),
            subject=notice,
            file_name=f"notice-{notice.id}-deliveries",
        )
    page = paginate(statement.order_by(Delivery.id))
    counts = cohort.delivery_counts([notice.id])[notice.id]
    total = sum(counts.values())
    if page.items:
        # The list shows recipients' names and addresses: a view of personal data.
        log_personal_data_access(
            "view_notice_deliveries", notice, purpose="notice deliveries", actor=current_user
        )
        db.session.commit()
    sending = (
        notice.cancelled_at is None and notice.send_at <= utcnow() and any(counts[s] for s in OPEN_STATUSES)
    )
    return render_template(
        "notices/detail.html",
        notice=notice,
        page=page,
        counts=counts,
        total=total,
        status=status,
        statuses=DeliveryStatus,
        summary=summarise(notice.audience),
        refresh=sending,
        held=cohort.held_for_quiet_hours(notice),
        may_cancel=cohort.cancel_refusal(notice) is None,
        retry_form=RetryForm(),
    )


@bp.route("/notices/<int:notice_id>/cancel", methods=["GET", "POST"])
@allow(*STAFF)
def cancel(notice_id: int):
    notice = _visible_notice(notice_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            cohort.cancel_notice(notice, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The notice was cancelled; nothing more will be sent."), "success")
            return redirect(url_for("notices.detail", notice_id=notice.id))
    counts = cohort.delivery_counts([notice.id])[notice.id]
    return render_form(
        "notices/cancel.html",
        form=form,
        notice=notice,
        total=sum(counts.values()),
        summary=summarise(notice.audience),
        refusal=cohort.cancel_refusal(notice),
    )


@bp.route("/deliveries/<int:delivery_id>/retry", methods=["POST"])
@allow(*STAFF)
def retry(delivery_id: int):
    delivery = _visible_delivery(delivery_id)
    form = RetryForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        cohort.retry_failed(delivery, current_user)
    except OperationError as error:
        flash(str(error.message), "error")
    else:
        db.session.commit()
        flash(_("The delivery to %(to)s is queued again.", to=delivery.recipient), "success")
    return redirect(url_for("notices.detail", notice_id=delivery.notice_id))


@bp.route("/portal/notices")
@allow(Role.firm_user)
def portal():
    """What the firm received: deliveries to this account or to the firm's contacts, newest first."""
    to_firm = Delivery.user_id == current_user.id
    if current_user.firm_id:
        to_firm = sa.or_(
            to_firm,
            Delivery.contact_id.in_(sa.select(Contact.id).where(Contact.firm_id == current_user.firm_id)),
        )
    statement = (
        sa.select(Delivery)
        .join(Notice, Delivery.notice_id == Notice.id)
        .where(to_firm, Delivery.status == DeliveryStatus.sent, Notice.status != NoticeStatus.cancelled)
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
    )
    return render_template("notices/portal.html", page=paginate(statement))
