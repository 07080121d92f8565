"""Reading the CSV files the lists stream, the way a spreadsheet would."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crm.core.time import today_kst
from tests.conftest import post_form

BOM = b"\xef\xbb\xbf"


@dataclass
class CsvFile:
    response: TestResponse
    header: list[str]
    rows: list[dict[str, str]]

    def column(self, name: str) -> list[str]:
        return [row[name] for row in self.rows]


def parse(response: TestResponse) -> CsvFile:
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    body = response.get_data()
    assert body.startswith(BOM), "Excel needs the BOM to read UTF-8"
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    header, *lines = list(reader)
    return CsvFile(response, header, [dict(zip(header, line, strict=True)) for line in lines])


def get_csv(client: FlaskClient, url: str) -> CsvFile:
    # buffered: the test client reads the streamed body inside the request, as a WSGI server would
    return parse(client.get(url, buffered=True))


def post_reason(client: FlaskClient, url: str, reason: str) -> TestResponse:
    """Submits the reason form shown at `url` (a list URL with format=csv&personal=1)."""
    return post_form(client, url, {"reason": reason}, buffered=True)


def filename_of(response: TestResponse) -> str:
    match = re.search(r'filename="([^"]+)"', response.headers["Content-Disposition"])
    assert match, response.headers["Content-Disposition"]
    return match.group(1)


def kst_stamp() -> str:
    return f"{today_kst():%Y%m%d}"


def page_total(html: str) -> int:
    """The "N in all" the list page prints under its table (the pager's total)."""
    match = re.search(r"([\d,]+) in all", html)
    assert match, "no total on the page"
    return int(match.group(1).replace(",", ""))
