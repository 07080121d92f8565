"""The personal iCal feed: a page to create, replace and revoke it, and the feed address calendar apps poll.

The feed address is public: calendar apps carry no session, so the secret in the address is the credential.
Unknown, revoked and deactivated users' feeds get one and the same bare 404.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.auth.models import STAFF_ROLES, Role
from crm.calendar import operations
from crm.calendar.forms import CreateFeedForm, RevokeFeedForm
from crm.core.access import allow, public
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.extensions import db, limiter

bp = Blueprint("calendar", __name__)

FEED_USERS = (*STAFF_ROLES, Role.firm_user)
# Calendar apps refresh every few minutes to hours; five minutes of caching costs nobody a deadline.
FEED_CACHE_CONTROL = "private, max-age=300"


def _feed_limit_key() -> str:
    # Per feed, not per address: Google and Apple fetch many users' feeds from a few shared addresses.
    return "calendar-feed:" + str((request.view_args or {}).get("token", ""))[:100]


def _not_found() -> Response:
    """The one answer for every feed that is not there; a bare body, so nothing (no CSRF token, no session
    cookie) tells an unknown token from a revoked one."""
    response = Response("Not found\n", status=404, mimetype="text/plain")
    response.headers["Cache-Control"] = FEED_CACHE_CONTROL
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _page(create_form: CreateFeedForm, feed_url: str | None = None) -> str:
    feed = operations.live_feed(current_user)
    return render_template(
        "calendar/index.html",
        feed=feed,
        form=create_form,
        feed_url=feed_url,
        webcal_url=_webcal(feed_url) if feed_url else None,
        lookback_days=operations.LOOKBACK_DAYS,
    )


def _webcal(url: str) -> str:
    """The same address with the webcal scheme, which makes phones and desktop apps offer to subscribe."""
    return "webcal://" + url.split("://", 1)[1]


@bp.get("/calendar")
@allow(*FEED_USERS)
def index():
    return _page(CreateFeedForm())


@bp.post("/calendar/feed")
@allow(*FEED_USERS)
def create():
    form = CreateFeedForm()
    if form.validate_on_submit():
        try:
            _token, secret = operations.create_feed(
                current_user, current_user, replace=bool(form.replace.data)
            )
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            # Shown here and never again: only the hash is stored, so this page is not redirected to.
            feed_url = url_for("calendar.feed", token=secret, _external=True)
            response = Response(_page(CreateFeedForm(formdata=None), feed_url=feed_url))
            response.headers["Cache-Control"] = "no-store"
            return response
    return render_form(
        "calendar/index.html",
        feed=operations.live_feed(current_user),
        form=form,
        feed_url=None,
        webcal_url=None,
        lookback_days=operations.LOOKBACK_DAYS,
    )


@bp.route("/calendar/feed/revoke", methods=["GET", "POST"])
@allow(*FEED_USERS)
def revoke():
    form = RevokeFeedForm()
    feed = operations.live_feed(current_user)
    if form.validate_on_submit():
        try:
            operations.revoke_feed(current_user, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your calendar feed was revoked. Its address no longer works."), "success")
            return redirect(url_for("calendar.index"))
    return render_form("calendar/revoke.html", form=form, feed=feed)


@bp.get("/calendar/<token>.ics")
@public
@limiter.limit("60 per minute", key_func=_feed_limit_key)
def feed(token: str):
    body = operations.feed_for(token)
    if body is None:
        return _not_found()
    db.session.commit()  # last_used_at, written at most once an hour
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = FEED_CACHE_CONTROL
    response.headers["Content-Disposition"] = 'inline; filename="axcrm.ics"'
    response.headers["X-Robots-Tag"] = "noindex"  # a leaked address must not end up in a search index
    # The body depends only on the data (DTSTAMP is the milestone's own change time), so a client that
    # already has it gets a 304 without the body.
    response.add_etag()
    return response.make_conditional(request)
