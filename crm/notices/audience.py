"""Who a cohort notice goes to, and what it says to each of them.

An audience is data, stored as it was chosen in `Notice.audience` (JSON):

    {"source": "call", "call_id": 3, "statuses": ["submitted", "selected"]}
    {"source": "programme", "programme_id": 7, "statuses": ["in_progress"]}
    {"source": "milestone", "programme_id": 7 | None, "kind": "interim_report", "state": "open" | "overdue"}

with optional filters "sido" (the firm's 시도 code) and "track". No statuses means every status. The
resolver turns it into firms the composer may reach (a coordinator only its institution's programmes and
calls, a manager its consortium's, an admin every one), then into addresses per firm.

Subjects and bodies carry variables such as `{firm_name}`; `render` fills them in for one recipient and
never raises, leaving anything it does not know exactly as typed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from crm.applications.models import Application, ApplicationStatus
from crm.auth.models import STAFF_ROLES, Role
from crm.core.exceptions import ValidationFailed
from crm.core.formatting import format_date
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.firms import regions
from crm.firms.models import Contact, Firm
from crm.milestones.models import Milestone, MilestoneStatus
from crm.notices.outbox import Recipient, unique_addresses
from crm.programmes.models import Call, Programme, Track

SOURCES = ("call", "programme", "milestone")
MILESTONE_STATES = (MilestoneStatus.open.value, MilestoneStatus.overdue.value)
VARIABLES = ("firm_name", "contact_name", "programme", "call", "due_on")


# --- variables ----------------------------------------------------------------------------------------


class TemplateError(ValueError):
    """A lone `{` or `}`: the text cannot be read as a template at all."""


def _fields(text: str) -> list[tuple[str, str | None]]:
    """[(literal text, the variable as typed or None)]; a variable keeps its conversion and format spec so
    an unknown one can be put back unchanged. Raises TemplateError for unbalanced braces."""
    parts: list[tuple[str, str | None]] = []
    try:
        for literal, name, spec, conversion in string.Formatter().parse(text or ""):
            if name is None:
                parts.append((literal, None))
                continue
            typed = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            parts.append((literal, typed))
    except ValueError as error:
        raise TemplateError(str(error)) from None
    return parts


def unknown_variables(text: str) -> list[str]:
    """The variables in `text` that are not ours, each once, in order of appearance. Attribute access,
    indexing, conversions and format specs are not ours either: only the bare names are filled in."""
    unknown: list[str] = []
    for _literal, typed in _fields(text):
        if typed is not None and typed not in VARIABLES and typed not in unknown:
            unknown.append(typed)
    return unknown


def render(text: str, values: dict[str, str]) -> str:
    """`text` with our variables filled in and `{{` `}}` read as literal braces — the meaning of
    str.format_map — except that an unknown variable stays visibly as typed (`{foo}`) and nothing is ever
    evaluated beyond a dictionary lookup, so no template can raise or reach into objects. Text that cannot
    be parsed at all (a lone brace) comes back unchanged."""
    try:
        parts = _fields(text)
    except TemplateError:
        return text or ""
    out: list[str] = []
    for literal, typed in parts:
        out.append(literal)
        if typed is None:
            continue
        out.append(values[typed] if typed in VARIABLES and typed in values else "{" + typed + "}")
    return "".join(out)


def template_problems(text: str) -> list[Any]:
    """Messages for a subject or body: unbalanced braces, or variables we do not know (with the list of the
    ones we do)."""
    try:
        unknown = unknown_variables(text)
    except TemplateError:
        return [_l("A brace is not closed. Write {{ and }} for a literal { or }.")]
    if not unknown:
        return []
    return [
        _l(
            "Unknown variable(s): %(unknown)s. You can use %(allowed)s; write {{ and }} for a literal brace.",
            unknown=", ".join("{" + name + "}" for name in unknown),
            allowed=", ".join("{" + name + "}" for name in VARIABLES),
        )
    ]


# --- scope --------------------------------------------------------------------------------------------


def reachable_programmes(actor: Any) -> sa.ColumnElement[bool]:
    """Programmes whose firms the actor may write to: an admin every one, a manager its consortium's, a
    coordinator only its own institution's (it may see the whole consortium's programmes, but its case
    work and contacts are its institution's)."""
    if actor.role not in STAFF_ROLES:
        return sa.false()
    clause = Programme.visible_to(actor)
    if actor.role is Role.coordinator:
        clause = sa.and_(clause, Programme.institution_id == actor.institution_id)
    return clause


def _reachable_programme_ids(actor: Any) -> sa.Select:
    return sa.select(Programme.id).where(reachable_programmes(actor))


def call_choices(actor: Any) -> list[tuple[str, str]]:
    calls = db.session.scalars(
        sa.select(Call)
        .where(Call.programme_id.in_(_reachable_programme_ids(actor)))
        .order_by(Call.opens_at.desc(), Call.id.desc())
    ).all()
    return [(str(c.id), f"{c.title} ({c.cohort}) · {c.programme.name}") for c in calls]


def programme_choices(actor: Any) -> list[tuple[str, str]]:
    programmes = db.session.scalars(
        sa.select(Programme).where(reachable_programmes(actor)).order_by(Programme.name, Programme.id)
    ).all()
    # Programmes keep their name from year to year, so the option names the year too.
    return [(str(p.id), f"{p.name} · {p.programme_year}") for p in programmes]


def milestone_kind_choices(actor: Any) -> list[tuple[str, str]]:
    """The milestone kinds the actor's engagements have, each named by one of its titles."""
    rows = db.session.execute(
        sa.select(Milestone.kind, sa.func.min(Milestone.title))
        .join(Engagement, Milestone.engagement_id == Engagement.id)
        .where(Engagement.programme_id.in_(_reachable_programme_ids(actor)))
        .group_by(Milestone.kind)
        .order_by(Milestone.kind)
    ).all()
    return [(kind, f"{title} ({kind})") for kind, title in rows]


def _reachable_call(call_id: Any, actor: Any) -> Call | None:
    try:
        call_id = int(call_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        sa.select(Call).where(Call.id == call_id, Call.programme_id.in_(_reachable_programme_ids(actor)))
    )


def _reachable_programme(programme_id: Any, actor: Any) -> Programme | None:
    try:
        programme_id = int(programme_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        sa.select(Programme).where(Programme.id == programme_id, reachable_programmes(actor))
    )


# --- the audience as data -----------------------------------------------------------------------------


def _statuses(values: Any, enum_cls: type[Any]) -> list[str] | None:
    """Known status values in the enum's order, or None when one is not a status at all."""
    wanted = [str(v) for v in (values or []) if str(v)]
    allowed = [member.value for member in enum_cls]
    if any(v not in allowed for v in wanted):
        return None
    return [v for v in allowed if v in wanted]


def clean_audience(raw: dict[str, Any], actor: Any) -> dict[str, Any]:
    """The audience as stored, checked against what the actor may reach. Problems are keyed by the compose
    form's fields (source, call_id, programme_id, application_statuses, engagement_statuses,
    milestone_kind, milestone_state, sido, track). Another institution's or consortium's call or programme
    reads as not on the list, as it is not on the actor's."""
    problems: dict[str, list[Any]] = {}
    source = raw.get("source")
    audience: dict[str, Any] = {"source": source}
    if source not in SOURCES:
        raise ValidationFailed({"source": [_l("Choose who the notice is for.")]})
    if source == "call":
        call = _reachable_call(raw.get("call_id"), actor)
        if call is None:
            problems["call_id"] = [_l("Choose one of your calls from the list.")]
        else:
            audience["call_id"] = call.id
        statuses = _statuses(raw.get("statuses"), ApplicationStatus)
        if statuses is None:
            problems["application_statuses"] = [_l("Choose application statuses from the list.")]
        audience["statuses"] = statuses or []
    elif source == "programme":
        programme = _reachable_programme(raw.get("programme_id"), actor)
        if programme is None:
            problems["programme_id"] = [_l("Choose one of your programmes from the list.")]
        else:
            audience["programme_id"] = programme.id
        statuses = _statuses(raw.get("statuses"), EngagementStatus)
        if statuses is None:
            problems["engagement_statuses"] = [_l("Choose engagement statuses from the list.")]
        audience["statuses"] = statuses or []
    else:
        audience["programme_id"] = None
        if raw.get("programme_id") not in (None, ""):
            programme = _reachable_programme(raw.get("programme_id"), actor)
            if programme is None:
                problems["programme_id"] = [_l("Choose one of your programmes from the list.")]
            else:
                audience["programme_id"] = programme.id
        kind = str(raw.get("kind") or "").strip()
        if not kind:
            problems["milestone_kind"] = [_l("Choose the kind of milestone.")]
        audience["kind"] = kind
        state = raw.get("state") or MilestoneStatus.open.value
        if state not in MILESTONE_STATES:
            problems["milestone_state"] = [_l("Choose open or overdue.")]
        audience["state"] = state
    sido = str(raw.get("sido") or "").strip()
    if sido:
        if regions.sido_name(sido) is None:
            problems["sido"] = [_l("Choose a region from the list.")]
        audience["sido"] = sido
    track = str(raw.get("track") or "").strip()
    if track:
        if track not in {t.value for t in Track}:
            problems["track"] = [_l("Choose a track from the list.")]
        audience["track"] = track
    if problems:
        raise ValidationFailed(problems)
    return audience


def scope_of(audience: dict[str, Any], actor: Any) -> dict[str, int | None]:
    """The consortium and institution a notice concerns, stored with its audience so the right managers
    and coordinators see it later: the targeted programme's, else the composer's own."""
    programme: Programme | None = None
    if audience.get("call_id"):
        call = db.session.get(Call, audience["call_id"])
        programme = call.programme if call is not None else None
    elif audience.get("programme_id"):
        programme = db.session.get(Programme, audience["programme_id"])
    if programme is not None:
        return {"consortium_id": programme.consortium_id, "institution_id": programme.institution_id}
    return {
        "consortium_id": actor.scope_consortium_id,
        "institution_id": actor.institution_id if actor.role is Role.coordinator else None,
    }


# --- resolving ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A firm in the audience and what its variables say."""

    firm: Firm
    programme: Programme | None = None
    call: Call | None = None
    due_on: date | None = None


@dataclass(frozen=True)
class Addressee:
    member: Member
    recipient: Recipient


def _filters(statement: sa.Select, audience: dict[str, Any]) -> sa.Select:
    if audience.get("sido"):
        statement = statement.where(Firm.sido_code == audience["sido"])
    if audience.get("track"):
        statement = statement.where(Programme.track == Track(audience["track"]))
    return statement


def resolve_members(audience: dict[str, Any], actor: Any, today: date | None = None) -> list[Member]:
    """The firms of a cleaned audience that the actor may reach, each once, by firm name. A firm matched
    twice (two engagements, two milestones) keeps its first match: the earliest due milestone."""
    reachable = _reachable_programme_ids(actor)
    members: list[Member] = []
    source = audience.get("source")
    if source == "call":
        statement = (
            sa.select(Application, Firm)
            .join(Firm, Application.firm_id == Firm.id)
            .join(Call, Application.call_id == Call.id)
            .join(Programme, Call.programme_id == Programme.id)
            .where(Application.call_id == audience.get("call_id"), Call.programme_id.in_(reachable))
            .order_by(Firm.name, Application.id)
        )
        if audience.get("statuses"):
            statement = statement.where(
                Application.status.in_([ApplicationStatus(s) for s in audience["statuses"]])
            )
        for application, firm in db.session.execute(_filters(statement, audience)):
            call = application.call
            # A supplement has its own deadline; otherwise the call's closing day is the date that matters.
            due_on = application.supplement_due_on or call.closes_on_kst
            members.append(Member(firm, call.programme, call, due_on))
    elif source == "programme":
        statement = (
            sa.select(Engagement, Firm)
            .join(Firm, Engagement.firm_id == Firm.id)
            .join(Programme, Engagement.programme_id == Programme.id)
            .where(Engagement.programme_id == audience.get("programme_id"), Programme.id.in_(reachable))
            .order_by(Firm.name, Engagement.id)
        )
        if audience.get("statuses"):
            statement = statement.where(
                Engagement.status.in_([EngagementStatus(s) for s in audience["statuses"]])
            )
        for engagement, firm in db.session.execute(_filters(statement, audience)):
            call = engagement.application.call if engagement.application is not None else None
            members.append(Member(firm, engagement.programme, call, engagement.ends_on))
    elif source == "milestone":
        state = MilestoneStatus(audience.get("state") or MilestoneStatus.open.value)
        statement = (
            sa.select(Milestone, Firm)
            .join(Engagement, Milestone.engagement_id == Engagement.id)
            .join(Firm, Engagement.firm_id == Firm.id)
            .join(Programme, Engagement.programme_id == Programme.id)
            .where(
                Milestone.kind == audience.get("kind"),
                Milestone.status_clause(state, today or today_kst()),
                Programme.id.in_(reachable),
            )
            .order_by(Firm.name, Firm.id, Milestone.due_on, Milestone.id)
        )
        if audience.get("programme_id"):
            statement = statement.where(Engagement.programme_id == audience["programme_id"])
        for milestone, firm in db.session.execute(_filters(statement, audience)):
            engagement = milestone.engagement
            call = engagement.application.call if engagement.application is not None else None
            members.append(Member(firm, engagement.programme, call, milestone.due_on))
    seen: set[int] = set()
    unique = []
    for member in members:
        if member.firm.id not in seen:
            seen.add(member.firm.id)
            unique.append(member)
    return unique


def recipients_of(firm: Firm, marketing: bool = False) -> list[Recipient]:
    """A firm's addresses: its verified portal accounts and primary contacts with an e-mail. A marketing
    notice goes only to primary contacts who gave the marketing consent; portal accounts have no opt-in of
    their own, so they get none."""
    return _recipients_by_firm([firm.id], marketing).get(firm.id, [])


# Firms per query when resolving an audience: a cohort of thousands costs a few queries, not two per firm.
_FIRMS_PER_QUERY = 1_000


def _recipients_by_firm(firm_ids: list[int], marketing: bool) -> dict[int, list[Recipient]]:
    """recipients_of for many firms at once, in the same order per firm (portal accounts, then primary
    contacts, each by id; outbox.firm_recipients' rule), each address once per firm."""
    from crm.auth.models import User

    found: dict[int, list[Recipient]] = {firm_id: [] for firm_id in firm_ids}
    for start in range(0, len(firm_ids), _FIRMS_PER_QUERY):
        batch = firm_ids[start : start + _FIRMS_PER_QUERY]
        if not marketing:
            users = db.session.execute(
                sa.select(User.firm_id, User.id, User.email, User.name, User.locale)
                .where(
                    User.firm_id.in_(batch),
                    User.role == Role.firm_user,
                    User.is_active.is_(True),
                    User.email_verified_at.is_not(None),
                )
                .order_by(User.id)
            )
            for row in users:
                found[row.firm_id].append(
                    Recipient(row.email, row.name, user_id=row.id, locale=row.locale or "ko")
                )
        consent = Contact.consent_marketing_at if marketing else Contact.consent_privacy_at
        contacts = db.session.execute(
            sa.select(Contact.firm_id, Contact.id, Contact.email, Contact.name, Contact.phone)
            .where(
                Contact.firm_id.in_(batch),
                Contact.is_primary.is_(True),
                Contact.email != "",
                consent.is_not(None),
                # Withdrawing the privacy consent ends marketing too, whatever the marketing consent says.
                Contact.consent_privacy_at.is_not(None),
            )
            .order_by(Contact.id)
        )
        for row in contacts:
            if row.email:
                found[row.firm_id].append(
                    Recipient(row.email, row.name, contact_id=row.id, phone=row.phone or "")
                )
    return {firm_id: unique_addresses(recipients) for firm_id, recipients in found.items()}


def resolve(audience: dict[str, Any], actor: Any, marketing: bool = False) -> list[Addressee]:
    """Every address the notice would go to, each once (as the outbox will send it), with its firm."""
    members = resolve_members(audience, actor)
    by_firm = _recipients_by_firm([member.firm.id for member in members], marketing)
    seen: set[str] = set()
    addressees: list[Addressee] = []
    for member in members:
        for recipient in by_firm[member.firm.id]:
            key = recipient.email.strip().lower()
            if key and key not in seen:
                seen.add(key)
                addressees.append(Addressee(member, recipient))
    return addressees


def values_for(addressee: Addressee) -> dict[str, str]:
    """The variables for one recipient; dates in the recipient's language. A variable without a value for
    this firm (no call, no due day) becomes empty text."""
    member, recipient = addressee.member, addressee.recipient
    due_on = ""
    if member.due_on is not None:
        with force_locale(recipient.locale or "ko"):
            due_on = format_date(member.due_on)
    return {
        "firm_name": member.firm.name,
        "contact_name": recipient.name or member.firm.name,
        "programme": member.programme.name if member.programme is not None else "",
        "call": member.call.title if member.call is not None else "",
        "due_on": due_on,
    }


# --- describing -----------------------------------------------------------------------------------------


def summarise(audience: dict[str, Any] | None) -> str:
    """One line saying who a notice was for, in the reader's language."""
    audience = audience or {}
    source = audience.get("source")
    if source not in SOURCES:
        return ""
    parts: list[str] = []
    if source == "call":
        call = db.session.get(Call, audience["call_id"]) if audience.get("call_id") else None
        name = f"{call.title} ({call.cohort})" if call is not None else "—"
        parts.append(str(_l("Applicants of %(call)s", call=name)))
        statuses = [ApplicationStatus(s).title for s in audience.get("statuses") or []]
    elif source == "programme":
        programme = (
            db.session.get(Programme, audience["programme_id"]) if audience.get("programme_id") else None
        )
        parts.append(str(_l("Engagements of %(programme)s", programme=programme.name if programme else "—")))
        statuses = [EngagementStatus(s).title for s in audience.get("statuses") or []]
    else:
        state = MilestoneStatus(audience.get("state") or "open").title
        parts.append(
            str(_l("Firms with a milestone %(kind)s (%(state)s)", kind=audience.get("kind"), state=state))
        )
        if audience.get("programme_id"):
            programme = db.session.get(Programme, audience["programme_id"])
            if programme is not None:
                parts.append(programme.name)
        statuses = []
    if source != "milestone":
        parts.append(", ".join(statuses) if statuses else str(_l("every status")))
    if audience.get("sido"):
        parts.append(regions.sido_name(audience["sido"]) or audience["sido"])
    if audience.get("track"):
        try:
            parts.append(Track(audience["track"]).title)
        except ValueError:
            parts.append(audience["track"])
    return " · ".join(parts)
