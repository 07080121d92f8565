"""The firm portal's accounts: sign-up bound to a BRN, e-mail verification, staff decisions on claims to act
for an existing firm, and a firm user's own profile and contacts. One function per verb, never committing.

Nobody can claim an existing firm alone: a sign-up with a registered BRN only asks (a FirmClaim), and staff
of a consortium related to the firm decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.audit.operations import apply_changes, diff, record_audit
from crm.auth.models import STAFF_ROLES, EmailToken, Role, User, hash_token
from crm.auth.operations import (
    VERIFY_EMAIL,
    hash_password,
    issue_email_token,
    normalize_email,
    password_problems,
)
from crm.core.db import utcnow
from crm.core.enums import IllegalTransition, check_transition
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.extensions import db
from crm.firms.identifiers import normalize_brn
from crm.firms.models import Contact, Firm

# The firm registry's own value builders, so a firm user's edits obey exactly the rules staff edits do.
from crm.firms.operations import (
    ContactData,
    FirmData,
    brn_problem,
    contact_values,
    firm_values_and_problems,
    keep_one_primary,
)
from crm.notices.models import NoticeKind
from crm.notices.outbox import Recipient, queue_notice
from crm.portal.models import CLAIM_TRANSITIONS, ClaimStatus, FirmClaim

VERIFY_PURPOSE = VERIFY_EMAIL
VERIFY_LIFETIME = timedelta(hours=24)
# One address gets at most one new link a minute, whatever the number of IPs asking (mail bombing).
RESEND_COOLDOWN = timedelta(minutes=1)
# Registry facts and the tax office's status are kept by staff; the firm edits everything else but the BRN.
STAFF_ONLY_FIRM_FIELDS = ("corp_no", "business_status", "business_status_checked_at")
CONSENTS = ("consent_privacy_at", "consent_admin_info_at", "consent_marketing_at")

EMAIL_UNUSABLE = _l(
    "This e-mail address cannot be used for a new account. If it is yours, sign in, or ask the programme "
    "staff to reset the password."
)
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class SignupData:
    email: str
    name: str
    password: str
    brn: str
    firm_name: str = ""
    ceo_name: str = ""
    sido_code: str = ""
    sigungu_code: str = ""
    phone: str = ""
    message: str = ""  # a note for the staff who decide a claim
    consent_privacy: bool = False
    consent_admin_info: bool = False
    consent_marketing: bool = False


@dataclass
class SignupOutcome:
    user: User
    firm: Firm | None  # created by this sign-up
    claim: FirmClaim | None  # made instead when the BRN was already registered


class TokenProblem(RuleViolation):
    """A verification link that cannot be used: `code` is token_unknown, token_used or token_expired."""

    def __init__(self, code: str, message: Any, user: User | None = None) -> None:
        super().__init__(code, message)
        self.status = 404 if code == "token_unknown" else 410
        self.user = user


# --- sign-up and verification ---------------------------------------------------------------------------


def _mail_to(user: User, subject: str, body: str, about: Any = None, firm_id: int | None = None) -> None:
    queue_notice(
        kind=NoticeKind.account,
        subject=subject,
        body=body,
        recipients=[Recipient(user.email, user.name, user_id=user.id)],
        firm_id=firm_id,
        about=about,
    )


def send_verification(user: User) -> EmailToken:
    """A new single-use link; earlier unused links of the user stop working, so only the latest mail counts.
    Only the hash of the token is stored: the database alone cannot verify anybody."""
    row, token = issue_email_token(user, VERIFY_PURPOSE, VERIFY_LIFETIME)
    link = url_for("portal.verify", token=token, _external=True)
    _mail_to(
        user,
        _("[AX CRM] Confirm your e-mail address"),
        _(
            "Hello %(name)s,\n\nPlease confirm your e-mail address for the AX CRM firm portal by opening "
            "this link within 24 hours:\n\n%(link)s\n\nThe link works once. If you did not sign up, "
            "ignore this e-mail; no account can be used without it.",
            name=user.name,
            link=link,
        ),
        about=user,
    )
    record_audit("user.verification_sent", user, {"expires_at": row.expires_at}, actor=user)
    return row


def _signup_problems(data: SignupData, email: str) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}
    if not _EMAIL_SHAPE.fullmatch(email):
        problems["email"] = [_l("Enter a valid e-mail address.")]
    elif db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        problems["email"] = [EMAIL_UNUSABLE]
    if not (data.name or "").strip():
        problems["name"] = [_l("Enter your name.")]
    if pw := password_problems(data.password):
        problems["password"] = pw
    if message := brn_problem(data.brn):
        problems["brn"] = [message]
    if not data.consent_privacy:
        problems["consent_privacy"] = [
            _l("An account needs your consent to the collection and use of personal data.")
        ]
    return problems


def _firm_from_signup(data: SignupData) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    values, problems = firm_values_and_problems(
        FirmData(
            name=data.firm_name,
            ceo_name=data.ceo_name,
            sido_code=data.sido_code,
            sigungu_code=data.sigungu_code,
        )
    )
    if "name" in problems:
        problems["firm_name"] = problems.pop("name")
    return values, problems


def sign_up(data: SignupData) -> SignupOutcome:
    """A firm user whose address still needs confirming. A new BRN creates the firm, with the person as its
    primary contact; a registered BRN only creates a pending claim (staff decide), never a firm link."""
    email = normalize_email(data.email)
    problems = _signup_problems(data, email)
    firm = None
    firm_values: dict[str, Any] = {}
    if "brn" not in problems:
        brn = normalize_brn(data.brn)
        firm = db.session.scalar(sa.select(Firm).where(Firm.brn == brn))
        if firm is None:
            firm_values, firm_problems = _firm_from_signup(data)
            problems.update(firm_problems)
    if problems:
        raise ValidationFailed(problems)

    user = User(
        email=email,
        name=data.name.strip(),
        role=Role.firm_user,
        password_hash=hash_password(data.password),
        password_changed_at=utcnow(),
        email_verified_at=None,
    )
    try:
        # A savepoint, so two sign-ups racing for one address end in a form error, not a 500.
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise ValidationFailed({"email": [EMAIL_UNUSABLE]}) from None
    record_audit("user.signup", user, {"email": email, "role": Role.firm_user}, actor=user)

    created = None
    if firm is None:
        created = _create_firm(normalize_brn(data.brn), firm_values, user)
        if created is None:  # registered meanwhile by someone else: ask for it like any existing firm
            firm = db.session.scalar(sa.select(Firm).where(Firm.brn == normalize_brn(data.brn)))
    claim = None
    if created is not None:
        user.firm_id = created.id
        contact = Contact(
            firm=created,
            **contact_values(
                ContactData(
                    name=user.name,
                    phone=data.phone,
                    email=email,
                    is_primary=True,
                    consent_privacy=True,
                    consent_admin_info=data.consent_admin_info,
                    consent_marketing=data.consent_marketing,
                ),
                None,
            ),
        )
        db.session.add(contact)
        db.session.flush()
        record_audit("contact.create", contact, {"firm_id": created.id, "via": "portal_signup"}, actor=user)
    else:
        now = utcnow()
        claim = FirmClaim(
            user_id=user.id,
            firm_id=firm.id,
            message=(data.message or "").strip(),
            phone=(data.phone or "").strip(),
            consent_admin_info_at=now if data.consent_admin_info else None,
            consent_marketing_at=now if data.consent_marketing else None,
        )
        db.session.add(claim)
        db.session.flush()
        record_audit("firm_claim.create", claim, {"firm_id": firm.id, "user_id": user.id}, actor=user)
    send_verification(user)
    return SignupOutcome(user=user, firm=created, claim=claim)


def _create_firm(brn: str, values: dict[str, Any], user: User) -> Firm | None:
    """The firm as the sign-up describes it, or None when the same BRN was registered a moment ago."""
    firm = Firm(brn=brn, registered_by_id=user.id, **values)
    try:
        with db.session.begin_nested():
            db.session.add(firm)
            db.session.flush()
    except sa.exc.IntegrityError:
        if db.session.scalar(sa.select(Firm.id).where(Firm.brn == brn)) is None:
            raise
        return None
    record_audit("firm.create", firm, {"brn": brn, **values, "via": "portal_signup"}, actor=user)
    return firm


def verify_email(token: str) -> User:
    """Confirms the address the link was sent to. The token is claimed with one conditional UPDATE, so a link
    opened twice at once still verifies only once."""
    row = db.session.scalar(
        sa.select(EmailToken).where(
            EmailToken.token_hash == hash_token(token or ""), EmailToken.purpose == VERIFY_PURPOSE
        )
    )
    if row is None:
        raise TokenProblem("token_unknown", _l("This confirmation link is not valid."))
    if row.used_at is not None:
        raise TokenProblem("token_used", _l("This confirmation link was already used."), user=row.user)
    now = utcnow()
    if row.expires_at <= now:
        raise TokenProblem(
            "token_expired",
            _l("This confirmation link has expired or was replaced by a newer one."),
            user=row.user,
        )
    claimed = db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.id == row.id, EmailToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise TokenProblem("token_used", _l("This confirmation link was already used."), user=row.user)
    user = row.user
    if user.email_verified_at is None:
        user.email_verified_at = now
        record_audit("user.email_verified", user, {"email": user.email}, actor=user)
    db.session.flush()
    return user


def resend_verification(email: str) -> bool:
    """Sends a new link when the address belongs to a portal account that signed up and is not confirmed yet;
    returns whether one was sent. The caller answers the same either way, so nobody learns which addresses
    have accounts. Accounts an admin made were never sent a link and get none: a stranger asking must not be
    able to lock them out until they confirm."""
    user = db.session.scalar(
        sa.select(User).where(
            User.email == normalize_email(email),
            User.role == Role.firm_user,
            User.is_active.is_(True),
            User.email_verified_at.is_(None),
        )
    )
    if user is None:
        return False
    latest = db.session.scalar(
        sa.select(sa.func.max(EmailToken.created_at)).where(
            EmailToken.user_id == user.id, EmailToken.purpose == VERIFY_PURPOSE
        )
    )
    if latest is None:
        return False
    if latest.tzinfo is None:  # SQLite's max() bypasses the column type and hands back a naive UTC time
        latest = latest.replace(tzinfo=utcnow().tzinfo)
    if latest > utcnow() - RESEND_COOLDOWN:
        return False
    send_verification(user)
    return True


# --- claims -----------------------------------------------------------------------------------------------


def _require_claim_decider(claim: FirmClaim, actor: User) -> None:
    if actor.role not in STAFF_ROLES:
        raise NotPermitted()
    visible = db.session.scalar(
        sa.select(FirmClaim.id).where(FirmClaim.id == claim.id, FirmClaim.visible_to(actor))
    )
    if visible is None:
        raise NotPermitted(_l("Only staff of a consortium related to this firm may decide this request."))


def _move_claim(claim: FirmClaim, target: ClaimStatus) -> None:
    try:
        check_transition(CLAIM_TRANSITIONS, claim.status, target)
    except IllegalTransition as error:
        raise RuleViolation(
            "illegal_transition",
            _l(
                "This request was already decided (%(status)s); nothing was changed.",
                status=claim.status.title,
            ),
        ) from error


def _claim_mail(claim: FirmClaim, subject: str, body: str) -> None:
    _mail_to(claim.user, subject, body, about=claim, firm_id=claim.firm_id)


def _locale_of(user: User) -> str:
    return user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


def approve_claim(claim: FirmClaim, actor: User) -> FirmClaim:
    """The claimant now acts for the firm and becomes one of its contacts (primary only when the firm has
    none), with the personal-data consent given at sign-up."""
    _require_claim_decider(claim, actor)
    _move_claim(claim, ClaimStatus.approved)
    user, firm = claim.user, claim.firm
    if user.firm_id is not None and user.firm_id != firm.id:
        raise RuleViolation(
            "already_attached", _l("This account already acts for another firm; it cannot take a second one.")
        )
    now = utcnow()
    claim.status = ClaimStatus.approved
    claim.decided_by_id = actor.id
    claim.decided_at = now
    apply_changes(user, {"firm_id": firm.id}, "user.update", actor)
    existing = next((c for c in firm.contacts if c.email and c.email.lower() == user.email), None)
    if existing is None:
        contact = Contact(
            firm=firm,
            name=user.name,
            email=user.email,
            phone=claim.phone,
            is_primary=not firm.contacts,
            consent_privacy_at=claim.created_at,
            consent_admin_info_at=claim.consent_admin_info_at,
            consent_marketing_at=claim.consent_marketing_at,
        )
        db.session.add(contact)
        db.session.flush()
        record_audit("contact.create", contact, {"firm_id": firm.id, "via": "firm_claim"}, actor=actor)
    elif existing.consent_privacy_at is None:
        # The same person, entered by staff earlier: the consent given at sign-up now covers that record.
        apply_changes(existing, {"consent_privacy_at": claim.created_at}, "contact.update", actor)
    db.session.flush()
    record_audit(
        "firm_claim.approve",
        claim,
        {"status": [ClaimStatus.pending, ClaimStatus.approved], "user_id": user.id, "firm_id": firm.id},
        actor=actor,
    )
    with force_locale(_locale_of(user)):
        _claim_mail(
            claim,
            _("[AX CRM] Your account may now act for %(firm)s", firm=firm.name),
            _(
                "Hello %(name)s,\n\nThe programme staff approved your request: your portal account now acts "
                "for %(firm)s. Sign in to see the firm's profile and contacts:\n\n%(link)s",
                name=user.name,
                firm=firm.name,
                link=url_for("auth.login", _external=True),
            ),
        )
    return claim


def refuse_claim(claim: FirmClaim, reason: str, actor: User) -> FirmClaim:
    """The claimant stays without a firm; the reason is sent to them."""
    _require_claim_decider(claim, actor)
    _move_claim(claim, ClaimStatus.refused)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            {"reason": [_l("Give the reason for the refusal; the applicant receives it.")]}
        )
    claim.status = ClaimStatus.refused
    claim.decided_by_id = actor.id
    claim.decided_at = utcnow()
    claim.decision_reason = reason
    db.session.flush()
    record_audit(
        "firm_claim.refuse",
        claim,
        {"status": [ClaimStatus.pending, ClaimStatus.refused], "reason": reason},
        actor=actor,
    )
    with force_locale(_locale_of(claim.user)):
        _claim_mail(
            claim,
            _("[AX CRM] Your request to act for %(firm)s was refused", firm=claim.firm.name),
            _(
                "Hello %(name)s,\n\nThe programme staff refused your request to act for %(firm)s in the "
                "AX CRM firm portal.\n\nReason: %(reason)s\n\nIf you think this is a mistake, contact the "
                "programme staff.",
                name=claim.user.name,
                firm=claim.firm.name,
                reason=reason,
            ),
        )
    return claim


# --- a firm user's own firm -------------------------------------------------------------------------------


def _require_own_firm(firm: Firm, actor: User) -> None:
    if actor.role is not Role.firm_user or actor.firm_id is None or actor.firm_id != firm.id:
        raise NotPermitted()


def update_own_firm(firm: Firm, data: FirmData, actor: User) -> Firm:
    """The firm's own profile. The BRN never changes; registry facts (corporate number, business status)
    stay as the staff recorded them whatever the form sends."""
    _require_own_firm(firm, actor)
    values, problems = firm_values_and_problems(data)
    for key in STAFF_ONLY_FIRM_FIELDS:
        values.pop(key, None)
        problems.pop(key, None)
    if problems:
        raise ValidationFailed(problems)
    apply_changes(firm, values, "firm.update", actor)
    return firm


def _require_own_contact(contact: Contact, actor: User) -> None:
    _require_own_firm(contact.firm, actor)


def add_own_contact(firm: Firm, data: ContactData, actor: User) -> Contact:
    """A person at the actor's own firm. Each consent ticked is dated now."""
    _require_own_firm(firm, actor)
    contact = Contact(firm=firm, **contact_values(data, None))
    db.session.add(contact)
    db.session.flush()
    if contact.is_primary:
        keep_one_primary(firm, contact)
    record_audit("contact.create", contact, {"firm_id": firm.id, "via": "portal"}, actor=actor)
    return contact


def update_own_contact(contact: Contact, data: ContactData, actor: User) -> Contact:
    """A consent still ticked keeps its original time; unticking withdraws it (the time becomes None)."""
    _require_own_contact(contact, actor)
    values = contact_values(data, contact)
    changes = diff(contact, values)
    for key, value in values.items():
        setattr(contact, key, value)
    if contact.is_primary:
        keep_one_primary(contact.firm, contact)
    db.session.flush()
    if changes:
        # The audit trail names the fields, not the personal data itself (as the staff pages do).
        record_audit(
            "contact.update", contact, {"firm_id": contact.firm_id, "fields": sorted(changes)}, actor=actor
        )
    # Withdrawals are worth finding in the audit trail without reading every field change.
    for name in CONSENTS:
        if name in changes and changes[name][1] is None:
            record_audit("contact.consent_withdrawn", contact, {"consent": name}, actor=actor)
    return contact


def delete_own_contact(contact: Contact, actor: User) -> None:
    _require_own_contact(contact, actor)
    record_audit("contact.delete", contact, {"firm_id": contact.firm_id, "via": "portal"}, actor=actor)
    db.session.delete(contact)
    db.session.flush()
