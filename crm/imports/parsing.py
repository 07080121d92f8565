"""Reading an uploaded table: what the file is (by its bytes, not its name), its header row and its data
rows as text. XLSX through openpyxl in read-only mode (rows stream, a large sheet never sits in memory);
CSV as UTF-8 (with or without BOM) or, failing that, CP949, which is what Korean Excel writes."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from openpyxl.utils import get_column_letter

from crm.documents.storage import sniff, zip_format

MAX_ROWS = 20_000
MAX_COLUMNS = 100
CSV_ENCODINGS = ("utf-8-sig", "cp949")


class TableError(Exception):
    """The file cannot be read as a table; `message` says why and what to do."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class DataRow:
    number: int  # as the spreadsheet shows it: the header is row 1
    cells: list[str]


def detect_format(path: Path) -> str:
    """ "xlsx" or "csv" from the content; TableError for anything else (old .xls, PDF, images, programs)."""
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    if not head:
        raise TableError(_l("The file is empty. Choose the file again."))
    kind = sniff(head)
    if kind == "zip":
        if zip_format(path) == "xlsx":
            return "xlsx"
        raise TableError(_l("This archive is not an Excel workbook. Upload an .xlsx or .csv file."))
    if kind == "ole":
        raise TableError(
            _l("Old Excel files (.xls) cannot be read. Save the sheet as .xlsx or .csv and upload it again.")
        )
    if kind is not None or b"\x00" in head:
        raise TableError(_l("This file is neither an Excel workbook (.xlsx) nor a CSV text file."))
    return "csv"


def cell_text(value: Any) -> str:
    """A cell as the text a person would type: dates as YYYY-MM-DD, 25.0 as 25, no stray spaces."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0, 0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    # NFC: macOS and some exports send decomposed Hangul, which would never match a name.
    return unicodedata.normalize("NFC", str(value)).strip()


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    # A file object, not the path: openpyxl refuses paths without an .xlsx extension, and stored names have
    # none.
    with path.open("rb") as handle:
        try:
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many kinds for a damaged workbook
            raise TableError(_l("The workbook could not be read. It may be damaged or protected.")) from error
        try:
            sheet = workbook.worksheets[0]
            # Some programs write a wrong used range; read what is there instead of trusting it.
            sheet.reset_dimensions()
            for row in sheet.iter_rows(values_only=True):
                yield list(row)
        finally:
            workbook.close()


def _decode(path: Path) -> str:
    data = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TableError(_l("The CSV file is neither UTF-8 nor CP949 (EUC-KR) text. Save it as CSV UTF-8."))


def _csv_rows(path: Path) -> Iterator[list[Any]]:
    text = _decode(path)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        yield from csv.reader(io.StringIO(text, newline=""), dialect)
    except csv.Error as error:
        raise TableError(_l("The CSV file is malformed: %(problem)s", problem=str(error))) from error


def _raw_rows(path: Path, file_format: str) -> Iterator[list[Any]]:
    return _xlsx_rows(path) if file_format == "xlsx" else _csv_rows(path)


def _trimmed(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    return cells


def column_label(index: int, header: str) -> str:
    """ "B · 기업명", so columns with the same or no header can still be told apart."""
    letter = get_column_letter(index + 1)
    return f"{letter} · {header}" if header else letter


def read_header(path: Path, file_format: str) -> tuple[list[str], int]:
    """The header row (first row) and the number of non-blank data rows; TableError when the file has no
    header, too many columns or too many rows."""
    rows = _raw_rows(path, file_format)
    first = next(rows, None)
    headers = _trimmed([cell_text(value) for value in first or []])
    if not headers:
        raise TableError(_l("The first row must hold the column names; it is empty."))
    if len(headers) > MAX_COLUMNS:
        raise TableError(_l("The sheet has more than %(max)s columns.", max=MAX_COLUMNS))
    count = 0
    for cells in rows:
        if any(cell_text(value) for value in cells):
            count += 1
            if count > MAX_ROWS:
                raise TableError(
                    _l(
                        "The file has more than %(max)s data rows. Split it into smaller files.",
                        max=f"{MAX_ROWS:,}",
                    )
                )
    if count == 0:
        raise TableError(_l("The file has column names but no data rows."))
    return headers, count


def data_rows(path: Path, file_format: str, width: int) -> Iterator[DataRow]:
    """The data rows after the header, blank ones left out (their numbers are kept), each `width` cells."""
    rows = _raw_rows(path, file_format)
    next(rows, None)
    for offset, values in enumerate(rows, start=2):
        cells = [cell_text(value) for value in values[:width]]
        if not any(cells):
            continue
        yield DataRow(offset, cells + [""] * (width - len(cells)))
