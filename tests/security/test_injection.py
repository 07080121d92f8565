"""Injection and XSS (issue 8, item 8): every text field of every HTML form and every JSON API body gets
`<script>alert(1)</script>`, `' OR 1=1 --` and an over-long Unicode string. Never a 5xx; what is stored is
stored byte for byte; what is shown is escaped; an over-long value is refused, never silently cut.

The forms are found by walking `app.url_map`: every GET page a role may open (with the objects of
injection_world) is parsed for POST forms, so a new form is covered the moment a page shows it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from crm.auth.models import Role
from crm.core.access import PUBLIC, access_rule, role_may_use
from crm.extensions import db
from tests.api.helpers import Api
from tests.conftest import login
from tests.security.injection_world import World, build_world

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SQL = "' OR 1=1 --"
LONG = "가" * 10_000 + "😀👩‍💻\u202eRTL\u200f끝"
LONG_MARK = "가" * 200
TEXT_TYPES = {"text", "search", "email", "tel", "url", "", None}
ROLES = [Role.admin, Role.consortium_manager, Role.coordinator, Role.evaluator, Role.firm_user]
# Signing out or switching language would end the walk, not test a text field.
SKIP_ACTIONS = {"/logout", "/language"}
DESTRUCTIVE = re.compile(r"delete|remove|cancel|withdraw|revoke|terminate|deactivate|lift|reopen|revert")


class _Forms(HTMLParser):
    """POST forms of a page: action, the values a browser would send, and the names of its text fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "data": {},
                "text": [],
                "multipart": "multipart" in a.get("enctype", ""),
            }
            self.forms.append(self._form)
            return
        form = self._form
        if form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in TEXT_TYPES:
                form["text"].append(name)
                form["data"][name] = a.get("value", "")
            elif kind in ("checkbox", "radio"):
                if kind == "checkbox" or "checked" in a or name not in form["data"]:
                    form["data"][name] = a.get("value", "y") or "y"
            elif kind == "date":
                form["data"][name] = a.get("value") or "2026-06-15"
            elif kind == "number":
                form["data"][name] = a.get("value") or "1"
            elif kind not in ("file", "submit", "button", "password"):
                form["data"][name] = a.get("value", "")
        elif tag == "textarea":
            form["text"].append(name)
            form["data"][name] = ""
            self._textarea = name
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if "selected" in a or (value and not form["data"].get(self._select)):
                form["data"][self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _forms(url: str, html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    found = []
    for form in parser.forms:
        action = urlsplit(urljoin(url, form["action"] or url)).path
        if form["method"] == "post" and form["text"] and action not in SKIP_ACTIONS:
            found.append({**form, "action": action, "page": url})
    return found


def _url(rule, world: World) -> str | None:
    try:
        return rule.build({name: world.ids[name] for name in rule.arguments})[1]
    except KeyError:
        return None


def _pages(app: Flask, world: World, role: Role) -> list[str]:
    pages = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or "GET" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        declared = access_rule(app, rule.endpoint)
        if declared != PUBLIC and not role_may_use(declared, role):
            continue
        if rule.rule.endswith((".csv", ".xlsx", ".ics")) or rule.endpoint in ("documents.download",):
            continue
        url = _url(rule, world)
        if url:
            pages.append(url)
    return sorted(set(pages))


def _html(response) -> str:
    return response.get_data(as_text=True) if response.mimetype == "text/html" else ""


def _check_response(response, what: str, failures: list[str]) -> None:
    if response.status_code >= 500:
        failures.append(f"{what}: {response.status_code}")
    if SCRIPT in _html(response):
        failures.append(f"{what}: unescaped {SCRIPT}")


def _stored_strings() -> list[str]:
    """Every text value in the database, JSON columns included, as the application stored it."""
    values: list[str] = []
    connection = db.session.connection()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.JSON))]
        if not columns:
            continue
        for row in connection.execute(sa.select(*[sa.cast(c, sa.Text) for c in columns])):
            values.extend(v for v in row if isinstance(v, str))
    return values


def _browser(app: Flask, world: World, role: Role) -> FlaskClient:
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, world.users[role].email)
    return browser


def _post(browser: FlaskClient, form: dict[str, Any], payload: str, fields: list[str]):
    data = {**form["data"], **dict.fromkeys(fields, payload)}
    return browser.post(
        form["action"], data=data, content_type="multipart/form-data" if form["multipart"] else None
    )


def test_every_form_text_field(app: Flask, app_ctx: None):
    world = build_world()
    db.session.commit()
    failures: list[str] = []
    browsers = {role: _browser(app, world, role) for role in ROLES}
    forms: dict[tuple[Role, str, tuple[str, ...]], dict[str, Any]] = {}
    for role, browser in browsers.items():
        for page in _pages(app, world, role):
            response = browser.get(page)
            _check_response(response, f"{role.value} GET {page}", failures)
            for form in _forms(page, _html(response)):
                forms.setdefault((role, form["action"], tuple(form["text"])), form)
    assert len(forms) >= 40, f"only {len(forms)} forms found: {sorted(k[1] for k in forms)}"

    # Forms that remove their object go last, so the others still find it.
    for (role, action, _fields), form in sorted(
        forms.items(), key=lambda kv: bool(DESTRUCTIVE.search(kv[0][1]))
    ):
        browser = browsers[role]
        attempts = [(payload, form["text"]) for payload in (LONG, SQL, SCRIPT)]
        # One field at a time too, the others keeping the values the page filled in, so edit forms pass
        # validation and store the payload.
        if any(form["data"].get(name) for name in form["text"]):
            attempts += [(SCRIPT, [name]) for name in form["text"]]
        for payload, fields in attempts:
            response = _post(browser, form, payload, fields)
            _check_response(response, f"{role.value} POST {action} {fields} ({payload[:12]}…)", failures)
        db.session.expire_all()
    assert failures == [], "\n".join(failures)

    stored = _stored_strings()
    scripts = [v for v in stored if "alert(1)" in v]
    assert scripts, "no form stored the script payload: the walk tested nothing"
    mangled = [v[:80] for v in scripts if SCRIPT not in v]
    assert mangled == [], f"script payload not stored faithfully: {mangled}"
    sqls = [v for v in stored if "1=1" in v]
    assert sqls and all(SQL in v for v in sqls), [v[:80] for v in sqls if SQL not in v]
    truncated = [f"{len(v)} chars" for v in stored if LONG_MARK in v and LONG not in v]
    assert truncated == [], f"over-long values cut silently: {truncated}"

    # Every page again, now that the payloads are stored: escaped wherever they show.
    escaped = 0
    for role in (Role.admin, Role.consortium_manager, Role.firm_user):
        for page in _pages(app, world, role):
            response = browsers[role].get(page)
            _check_response(response, f"{role.value} GET {page} (after)", failures)
            escaped += ESCAPED in _html(response)
    assert escaped, "no page shows a stored script payload (escaped)"
    assert failures == [], "\n".join(failures)


def test_over_long_text_is_refused_naming_the_field(app: Flask, app_ctx: None):
    world = build_world()
    db.session.commit()
    browser = _browser(app, world, Role.consortium_manager)
    url = f"/firms/{world.ids['firm_id']}/activities/new"
    form = next(f for f in _forms(url, _html(browser.get(url))) if "summary" in f["text"])
    data = {**form["data"], "summary": LONG}
    response = browser.post(url, data=data)
    assert response.status_code == 422
    html = _html(response)
    # The field itself is marked invalid and carries its own message (macros/forms.html `field`).
    assert re.search(r'aria-invalid="true"[^>]*id="summary"|id="summary"[^>]*aria-invalid="true"', html)
    assert 'id="summary-errors"' in html
    assert LONG_MARK not in "".join(_stored_strings())


def _schema(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _body(document: dict, schema: dict, payload: str, world: World) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, prop in _schema(document, schema).get("properties", {}).items():
        prop = _schema(document, prop)
        options = prop.get("anyOf") or prop.get("oneOf") or [prop]
        prop = next((_schema(document, o) for o in options if o.get("type") != "null"), prop)
        if "enum" in prop:
            body[name] = prop["enum"][0]
        elif prop.get("type") == "string" and prop.get("format") not in ("date", "date-time", "email"):
            body[name] = payload
        elif prop.get("type") == "string" and prop.get("format") == "email":
            body[name] = "someone@example.com"
        elif prop.get("type") == "string":
            body[name] = "2026-06-15"
        elif prop.get("type") == "integer":
            body[name] = world.ids.get(name, 1)
        elif prop.get("type") == "object":
            body[name] = {"goal": payload}
        elif prop.get("type") == "array":
            body[name] = []
        elif prop.get("type") == "boolean":
            body[name] = False
    return body


def test_every_api_body(app: Flask, app_ctx: None):
    world = build_world()
    db.session.commit()
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    path_ids = {
        "applications": "application_id",
        "engagements": "engagement_id",
        "firms": "firm_id",
        "milestones": "milestone_id",
        "notices": "notice_id",
    }
    failures: list[str] = []
    called = 0
    for role in (Role.consortium_manager, Role.firm_user, Role.admin):
        api = Api(app, world.users[role])
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                content = (operation.get("requestBody") or {}).get("content", {})
                if "application/json" not in content or path == "/api/v1/auth/tokens":
                    continue
                resource = path.split("/")[3]
                url = path.removeprefix("/api/v1").replace(
                    "{id}", str(world.ids.get(path_ids.get(resource), 1))
                )
                schema = content["application/json"]["schema"]
                full = [_body(document, schema, payload, world) for payload in (LONG, SQL, SCRIPT)]
                # A PATCH takes one field at a time, so a bad neighbour cannot hide an accepted payload.
                single = [{k: v} for k, v in full[2].items() if v == SCRIPT] if method == "patch" else []
                for body in full + single:
                    payload = next((v for v in body.values() if v in (LONG, SQL, SCRIPT)), SCRIPT)
                    response = api._call(method.upper(), url, json=body)
                    called += 1
                    if response.status_code >= 500:
                        failures.append(f"{role.value} {method.upper()} {url} ({payload[:12]}…): 5xx")
                    if (
                        payload is LONG
                        and response.status_code < 300
                        and LONG not in json.dumps(response.get_json(), ensure_ascii=False)
                    ):
                        failures.append(f"{role.value} {method.upper()} {url}: over-long value accepted")
    assert called >= 20
    assert failures == [], "\n".join(failures)
    stored = _stored_strings()
    assert all(SCRIPT in v for v in stored if "alert(1)" in v)
    assert all(SQL in v for v in stored if "1=1" in v)
    assert [v for v in stored if LONG_MARK in v and LONG not in v] == []


def test_lazy_messages_with_stored_data_are_escaped(app: Flask, app_ctx: None):
    """flask_babel marks lazy strings as safe HTML; crm.core.lazytext makes them escape like any string
    (found by the walk above: a KPI named `<script>…` printed raw in the firm's field label)."""
    from flask import render_template_string
    from flask_babel import lazy_gettext
    from wtforms import Label

    message = lazy_gettext("Actual: %(indicator)s", indicator=SCRIPT)
    rendered = render_template_string("{{ m }}", m=message)
    assert rendered.endswith(f": {ESCAPED}") and SCRIPT not in rendered
    assert SCRIPT not in str(Label("x", message)())
