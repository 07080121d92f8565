"""The firm portal: sign-up and e-mail confirmation (public), staff decisions on account requests, and the
firm user's home, profile and contacts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.audit.operations import log_personal_data_access
from crm.auth.models import Role
from crm.core.access import allow, public
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.extensions import db, limiter
from crm.firms.forms import ConfirmDeleteForm, ContactForm
from crm.firms.models import Contact, Firm
from crm.portal import operations
from crm.portal.forms import ClaimDecisionForm, ClaimFilterForm, PortalFirmForm, ResendForm, SignupForm
from crm.portal.models import ClaimStatus, FirmClaim

bp = Blueprint("portal", __name__)

STAFF = (Role.admin, Role.consortium_manager, Role.coordinator)
_SIGNUP_KEY = "portal_signup"


# --- sign-up and confirmation (public) --------------------------------------------------------------------


@bp.route("/portal/signup", methods=["GET", "POST"])
@public
@limiter.limit("5 per minute;30 per hour", methods=["POST"])
def signup():
    if current_user.is_authenticated:
        flash(_("You are already signed in."), "info")
        return redirect(url_for("auth.root"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            outcome = operations.sign_up(form.to_data())
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            session[_SIGNUP_KEY] = {"email": outcome.user.email, "claim": outcome.claim is not None}
            return redirect(url_for("portal.signup_done"))
    return render_form("portal/signup.html", form=form)


@bp.get("/portal/signup/done")
@public
def signup_done():
    outcome = session.get(_SIGNUP_KEY)
    if not outcome:
        return redirect(url_for("portal.signup"))
    return render_template("portal/signup_done.html", email=outcome["email"], claim=outcome["claim"])


@bp.get("/portal/verify/<token>")
@public
def verify(token: str):
    try:
        user = operations.verify_email(token)
    except operations.TokenProblem as error:
        page = render_template("portal/verify.html", problem=error, user=None, form=ResendForm())
        response, status = page, error.status
    else:
        db.session.commit()
        response, status = render_template("portal/verify.html", problem=None, user=user), 200
    # The token is in this page's address: do not hand it to other sites as a Referer.
    return response, status, {"Referrer-Policy": "no-referrer"}


@bp.route("/portal/verify/resend", methods=["GET", "POST"])
@public
@limiter.limit("3 per minute;20 per hour", methods=["POST"])
def resend_verification():
    form = ResendForm()
    if form.validate_on_submit():
        operations.resend_verification(form.email.data)
        db.session.commit()
        # The same answer whether or not a link went out: nobody learns which addresses have accounts.
        flash(
            _(
                "If this address belongs to a portal account that is not confirmed yet, a new confirmation "
                "link is on its way. Check your inbox and spam folder."
            ),
            "info",
        )
        return redirect(url_for("portal.resend_verification"))
    return render_form("portal/resend.html", form=form)


# --- account requests (staff) -----------------------------------------------------------------------------


def _visible_claim(claim_id: int) -> FirmClaim:
    claim = db.session.scalar(
        sa.select(FirmClaim).where(FirmClaim.id == claim_id, FirmClaim.visible_to(current_user))
    )
    if claim is None:
        abort(404)
    return claim


@bp.get("/portal/claims")
@allow(*STAFF)
def claims():
    form = ClaimFilterForm(request.args)
    statement = (
        sa.select(FirmClaim)
        .where(FirmClaim.visible_to(current_user))
        .options(selectinload(FirmClaim.firm))
        .order_by(FirmClaim.created_at.desc(), FirmClaim.id.desc())
    )
    if form.chosen is not None:
        statement = statement.where(FirmClaim.status == form.chosen)
    form.status.data = form.chosen.value if form.chosen is not None else "all"
    return render_template("portal/claims.html", form=form, page=paginate(statement))


def _render_claim(claim: FirmClaim, form: ClaimDecisionForm) -> tuple[str, int]:
    return render_form(
        "portal/claim.html",
        claim=claim,
        form=form,
        unrelated=not claim.firm.links,
        pending=claim.status is ClaimStatus.pending,
    )


@bp.route("/portal/claims/<int:claim_id>", methods=["GET", "POST"])
@allow(*STAFF)
def claim_detail(claim_id: int):
    claim = _visible_claim(claim_id)
    form = ClaimDecisionForm()
    if form.validate_on_submit():
        try:
            if form.decision.data == "approve":
                operations.approve_claim(claim, current_user)
            else:
                operations.refuse_claim(claim, form.reason.data or "", current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            if claim.status is ClaimStatus.approved:
                flash(
                    _("The request was approved; %(name)s now acts for the firm.", name=claim.user.name),
                    "success",
                )
            else:
                flash(_("The request was refused; the applicant was told why."), "success")
            return redirect(url_for("portal.claims"))
    elif not form.is_submitted():
        # The claimant's name and e-mail are personal data: each staff view is logged.
        log_personal_data_access("view_firm_claim", claim, purpose="account request", actor=current_user)
        db.session.commit()
    return _render_claim(claim, form)


# --- the firm user's own pages ----------------------------------------------------------------------------


def _own_firm() -> Firm | None:
    """The signed-in firm user's firm, or None while the account still waits for approval."""
    if current_user.firm_id is None:
        return None
    return db.session.scalar(
        sa.select(Firm).where(Firm.id == current_user.firm_id, Firm.visible_to(current_user))
    )


def _to_home() -> Any:
    flash(
        _("Your account waits for approval by the programme's staff; this page opens once it is approved."),
        "info",
    )
    return redirect(url_for("portal.home"))


def _own_contact(firm: Firm, contact_id: int) -> Contact:
    contact = db.session.scalar(
        sa.select(Contact).where(Contact.id == contact_id, Contact.firm_id == firm.id)
    )
    if contact is None:
        abort(404)
    return contact


@bp.get("/portal")
@allow(Role.firm_user)
def home():
    firm = _own_firm()
    if firm is None:
        latest = db.session.scalar(
            sa.select(FirmClaim)
            .where(FirmClaim.user_id == current_user.id)
            .order_by(FirmClaim.created_at.desc(), FirmClaim.id.desc())
            .limit(1)
        )
        return render_template("portal/waiting.html", claim=latest)
    return render_template("portal/home.html", firm=firm)


@bp.route("/portal/firm", methods=["GET", "POST"])
@allow(Role.firm_user)
def firm_edit():
    firm = _own_firm()
    if firm is None:
        return _to_home()
    form = PortalFirmForm(firm)
    if form.validate_on_submit():
        try:
            operations.update_own_firm(firm, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The firm's details were saved."), "success")
            return redirect(url_for("portal.home"))
    return render_form("portal/firm_form.html", form=form, firm=firm)


@bp.get("/portal/contacts")
@allow(Role.firm_user)
def contacts():
    firm = _own_firm()
    if firm is None:
        return _to_home()
    statement = sa.select(Contact).where(Contact.firm_id == firm.id).order_by(Contact.id)
    return render_template("portal/contacts.html", firm=firm, page=paginate(statement))


@bp.route("/portal/contacts/new", methods=["GET", "POST"])
@allow(Role.firm_user)
def contact_new():
    firm = _own_firm()
    if firm is None:
        return _to_home()
    form = ContactForm()
    if form.validate_on_submit():
        try:
            operations.add_own_contact(firm, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The contact was added."), "success")
            return redirect(url_for("portal.contacts"))
    return render_form("portal/contact_form.html", form=form, firm=firm, contact=None)


@bp.route("/portal/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@allow(Role.firm_user)
def contact_edit(contact_id: int):
    firm = _own_firm()
    if firm is None:
        return _to_home()
    contact = _own_contact(firm, contact_id)
    form = ContactForm.for_contact(contact)
    if form.validate_on_submit():
        try:
            operations.update_own_contact(contact, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The contact was saved."), "success")
            return redirect(url_for("portal.contacts"))
    return render_form("portal/contact_form.html", form=form, firm=firm, contact=contact)


@bp.route("/portal/contacts/<int:contact_id>/delete", methods=["GET", "POST"])
@allow(Role.firm_user)
def contact_delete(contact_id: int):
    firm = _own_firm()
    if firm is None:
        return _to_home()
    contact = _own_contact(firm, contact_id)
    form = ConfirmDeleteForm()
    if form.validate_on_submit():
        try:
            operations.delete_own_contact(contact, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The contact was deleted."), "success")
            return redirect(url_for("portal.contacts"))
    return render_form(
        "firms/contact_delete.html",
        form=form,
        firm=firm,
        contact=contact,
        action_url=url_for("portal.contact_delete", contact_id=contact.id),
        back_url=url_for("portal.contacts"),
    )
