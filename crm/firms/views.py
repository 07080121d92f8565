"""Staff pages of the firm registry. Firm users get their own portal; these routes refuse them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.auth.models import Role
from crm.core.access import allow
from crm.core.exceptions import Conflict, OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import InvalidCursor, keyset_paginate, url_args
from crm.core.time import today_kst
from crm.exports.csvexport import EMAIL, NAME, PHONE, column, csv_response, personal, wants_csv
from crm.exports.visibility import as_flag, contacts_visible_clause, primary_contact
from crm.extensions import db
from crm.firms import operations
from crm.firms.forms import (
    ConfirmDeleteForm,
    ContactForm,
    FinancialsForm,
    FirmEditForm,
    FirmRegisterForm,
    FirmSearchForm,
)
from crm.firms.models import Contact, Firm, FirmLink

bp = Blueprint("firms", __name__)

STAFF = (Role.admin, Role.consortium_manager, Role.coordinator)


def _visible_firm(firm_id: int, *options: Any) -> Firm:
    firm = db.session.scalar(
        sa.select(Firm).where(Firm.id == firm_id, Firm.visible_to(current_user)).options(*options)
    )
    if firm is None:
        abort(404)
    return firm


def _visible_contact(firm: Firm, contact_id: int) -> Contact:
    """A contact of a firm whose contacts the user may see; anything else answers 404."""
    contact = db.session.scalar(
        sa.select(Contact).where(Contact.id == contact_id, Contact.firm_id == firm.id)
    )
    if contact is None or not firm.contacts_visible_to(current_user):
        abort(404)
    return contact


def _ksic_section(firm: Firm) -> str:
    return f"{firm.ksic_section} {firm.ksic_section_name}" if firm.ksic_section else ""


def _contacts_visible(row: Any) -> bool:
    return bool(row.contacts_visible)


CSV_COLUMNS = [
    column(_l("Firm name"), "Firm.name"),
    # Masked for sole proprietors (개인사업자): in full only on the firm page, where the view is logged.
    column(_l("Business registration number"), "Firm.brn_masked"),
    column(_l("Corporate registration number (법인등록번호)"), "Firm.corp_no_display"),
    personal(_l("CEO"), "Firm.ceo_name", NAME),
    column(_l("Founded on"), "Firm.founded_on"),
    column(_l("Region"), "Firm.region_name"),
    column(_l("Address"), "Firm.address"),
    column(_l("KSIC code"), "Firm.ksic_code"),
    column(_l("KSIC section"), lambda row: _ksic_section(row.Firm)),
    column(_l("Employees"), "Firm.employees"),
    column(_l("Supplier"), "Firm.is_supplier"),
    column(_l("Business status"), "Firm.business_status"),
    column(_l("SME certificate valid until"), "Firm.sme_certificate_expires_on"),
    # The firm page shows the CEO to whoever sees the firm, contacts only under the stricter contact rule.
    personal(_l("Contact"), "contact_name", NAME, _contacts_visible),
    personal(_l("Contact phone"), "contact_phone", PHONE, _contacts_visible),
    personal(_l("Contact e-mail"), "contact_email", EMAIL, _contacts_visible),
]


def _csv(statement: sa.Select) -> Any:
    """Every matching firm with its primary contact; contacts unmasked only where the page shows them."""
    statement = statement.add_columns(
        as_flag(contacts_visible_clause(current_user), "contacts_visible"),
        primary_contact(Contact.name, "contact_name"),
        primary_contact(Contact.phone, "contact_phone"),
        primary_contact(Contact.email, "contact_email"),
    )
    return csv_response("firms", statement, CSV_COLUMNS, title=_l("Firms"))


@bp.route("/firms", methods=["GET", "POST"])
@allow(*STAFF)
def index():
    form = FirmSearchForm(request.args)
    statement = operations.search_firms(
        current_user, form.q.data or "", form.sido.data or "", form.sigungu.data or "", form.ksic.data or ""
    )
    if wants_csv():
        return _csv(statement)
    try:
        # By key (name, id): the 2,000th page of 100,000 firms costs what the first does.
        page = keyset_paginate(statement)
    except InvalidCursor:
        flash(_("That page link is no longer valid, so the list starts again from the first page."), "info")
        return redirect(url_for("firms.index", **url_args("after", "before", "page")))
    filtered = any((form.q.data, form.sido.data, form.sigungu.data, form.ksic.data))
    return render_template("firms/index.html", form=form, page=page, filtered=filtered)


@bp.route("/firms/new", methods=["GET", "POST"])
@allow(*STAFF)
def new():
    form = FirmRegisterForm()
    existing_id = None
    if form.validate_on_submit():
        try:
            firm = operations.register_firm(form.to_data(), current_user)
        except Conflict as error:
            db.session.commit()  # keeps the link that lets this consortium open the existing firm
            show_operation_error(form, error)
            existing_id = error.existing_id
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The firm %(name)s was registered.", name=firm.name), "success")
            return redirect(url_for("firms.detail", firm_id=firm.id))
    return render_form("firms/form.html", form=form, firm=None, existing_id=existing_id)


def _render_detail(firm: Firm, financials_form: FinancialsForm, status: int = 200):
    contacts = operations.contacts_for_page(firm, current_user)
    operations.log_brn_view(firm, current_user)
    links = [
        link
        for link in firm.links
        if current_user.role is Role.admin or link.consortium_id == current_user.scope_consortium_id
    ]
    page = render_template(
        "firms/detail.html",
        firm=firm,
        contacts=contacts,
        links=sorted(links, key=lambda link: link.created_at),
        financials_form=financials_form,
        today=today_kst(),
    )
    # The access-log rows of the contacts and the BRN shown are committed before the page leaves, so no page
    # is seen unlogged; committing after rendering spares reloading what a commit expires (firm, contacts,
    # links, the user and their institution: five queries).
    db.session.commit()
    return page, status


@bp.get("/firms/<int:firm_id>")
@allow(*STAFF)
def detail(firm_id: int):
    # The page lists the links with their consortium and institution: one query instead of one per link.
    links = selectinload(Firm.links)
    firm = _visible_firm(
        firm_id, links.joinedload(FirmLink.consortium), links.joinedload(FirmLink.institution)
    )
    return _render_detail(firm, FinancialsForm())


@bp.route("/firms/<int:firm_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit(firm_id: int):
    firm = _visible_firm(firm_id)
    form = FirmEditForm(obj=firm)
    if not form.is_submitted():
        form.corp_no.data = firm.corp_no_display
    if form.validate_on_submit():
        try:
            operations.update_firm(firm, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The firm's details were saved."), "success")
            return redirect(url_for("firms.detail", firm_id=firm.id))
    return render_form("firms/form.html", form=form, firm=firm, existing_id=None)


@bp.post("/firms/<int:firm_id>/financials")
@allow(*STAFF)
def financials(firm_id: int):
    firm = _visible_firm(firm_id)
    form = FinancialsForm()
    if form.validate_on_submit():
        try:
            operations.set_financials(
                firm,
                form.year.data,
                form.revenue_krw.data,
                form.assets_krw.data,
                form.exports_krw.data,
                current_user,
            )
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The figures for %(year)s were saved.", year=form.year.data), "success")
            return redirect(url_for("firms.detail", firm_id=firm.id, _anchor="financials"))
    return _render_detail(firm, form, status=422)


@bp.route("/firms/<int:firm_id>/contacts/new", methods=["GET", "POST"])
@allow(*STAFF)
def contact_new(firm_id: int):
    firm = _visible_firm(firm_id)
    if not firm.contacts_visible_to(current_user):
        abort(403)
    form = ContactForm()
    if form.validate_on_submit():
        try:
            operations.add_contact(firm, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The contact was added."), "success")
            return redirect(url_for("firms.detail", firm_id=firm.id, _anchor="contacts"))
    return render_form("firms/contact_form.html", form=form, firm=firm, contact=None)


@bp.route("/firms/<int:firm_id>/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def contact_edit(firm_id: int, contact_id: int):
    firm = _visible_firm(firm_id)
    contact = _visible_contact(firm, contact_id)
    form = ContactForm.for_contact(contact)
    if form.validate_on_submit():
        try:
            operations.update_contact(contact, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The contact was saved."), "success")
            return redirect(url_for("firms.detail", firm_id=firm.id, _anchor="contacts"))
    elif not form.is_submitted():
        operations.open_contact_for_edit(contact, current_user)
        db.session.commit()
    return render_form("firms/contact_form.html", form=form, firm=firm, contact=contact)


@bp.route("/firms/<int:firm_id>/contacts/<int:contact_id>/delete", methods=["GET", "POST"])
@allow(*STAFF)
def contact_delete(firm_id: int, contact_id: int):
    firm = _visible_firm(firm_id)
    contact = _visible_contact(firm, contact_id)
    form = ConfirmDeleteForm()
    if form.validate_on_submit():
        try:
            operations.delete_contact(contact, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The contact was deleted."), "success")
            return redirect(url_for("firms.detail", firm_id=firm.id, _anchor="contacts"))
    return render_form(
        "firms/contact_delete.html",
        form=form,
        firm=firm,
        contact=contact,
        action_url=url_for("firms.contact_delete", firm_id=firm.id, contact_id=contact.id),
        back_url=url_for("firms.detail", firm_id=firm.id, _anchor="contacts"),
    )
