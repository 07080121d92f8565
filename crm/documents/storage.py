"""Document bytes on disk: what a file really is (magic bytes), atomic storage under generated names, and
removal of files whose database row never committed.

Files live under UPLOAD_DIR (in the instance folder, never under `static/`) at `<shard>/<uuid hex>.<ext>`,
the shard being the name's first two characters so no directory grows without bound. The user's filename
never reaches the file system; the row keeps it for the download name only.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, SessionTransaction

# Extension (lower case) → the format its content must have.
EXTENSION_FORMATS: dict[str, str] = {
    "pdf": "pdf",
    "hwp": "hwp",
    "hwpx": "hwpx",
    "docx": "docx",
    "xlsx": "xlsx",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "png": "png",
}
CONTENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "hwp": "application/x-hwp",
    "hwpx": "application/hwp+zip",  # what the HWPX `mimetype` entry itself declares
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
# For the `accept` attribute of file inputs: browsers filter by these, the server still checks everything.
ACCEPT = ",".join(f".{ext}" for ext in EXTENSION_FORMATS)

CHUNK = 1024 * 1024
HEAD = 64 * 1024  # enough for every signature below, and for PDF's "within the first 1 KB" rule

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
# HWP 5's FileHeader stream starts with this and is stored uncompressed, so the bytes are in the file
# whatever sector the stream sits in; other OLE files (.doc, .xls) do not carry it.
_HWP_SIGNATURE = b"HWP Document File"
_EXECUTABLES = (
    b"MZ",  # Windows PE / DOS
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",  # Mach-O, both byte orders, 32/64 bit, and universal binaries
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",  # scripts
)
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z]{3,4}")


def _format_titles() -> dict[str, Any]:
    return {
        "pdf": _l("a PDF document"),
        "hwp": _l("an HWP document"),
        "hwpx": _l("an HWPX document"),
        "docx": _l("a Word document (DOCX)"),
        "xlsx": _l("an Excel workbook (XLSX)"),
        "jpeg": _l("a JPEG image"),
        "png": _l("a PNG image"),
        "zip": _l("a ZIP archive"),
        "ole": _l("an older Office document (DOC, XLS or PPT)"),
    }


class FileRejected(Exception):
    """The file may not be stored: `reason` is a stable code, `message` says what to do."""

    def __init__(self, reason: str, message: Any) -> None:
        super().__init__(str(message))
        self.reason = reason
        self.message = message


class FileTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredFile:
    stored_name: str
    path: Path
    size: int
    sha256: str
    content_type: str
    extension: str


def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def path_of(stored_name: str) -> Path:
    """The file of a stored name. Only names this module generates are accepted, so a tampered row can
    never point outside UPLOAD_DIR."""
    if not _STORED_NAME.fullmatch(stored_name or ""):
        raise FileNotFoundError(stored_name)
    return upload_dir() / stored_name[:2] / stored_name


def open_stored(stored_name: str) -> IO[bytes]:
    """The stored bytes for reading; FileNotFoundError when the file is gone."""
    return path_of(stored_name).open("rb")


def extension_of(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[1].strip().lower() if "." in name.strip(".") else ""


def allowed_extensions_text() -> str:
    return "PDF, HWP, HWPX, DOCX, XLSX, JPG, PNG"


def check_extension(filename: str) -> str:
    """The file's extension in lower case, or FileRejected naming the accepted ones."""
    extension = extension_of(filename)
    if not extension:
        raise FileRejected(
            "extension_missing",
            _l(
                "The file name has no extension. Upload one of these types: %(allowed)s.",
                allowed=allowed_extensions_text(),
            ),
        )
    if extension not in EXTENSION_FORMATS:
        raise FileRejected(
            "extension_not_allowed",
            _l(
                "Files of type .%(ext)s are not accepted. Upload one of these types: %(allowed)s.",
                ext=extension[:20],
                allowed=allowed_extensions_text(),
            ),
        )
    return extension


def clean_filename(filename: str, fallback: str = "document") -> str:
    """The name shown and offered on download: no directories, no control characters, at most 255
    characters with the extension kept. Korean names stay as they are (NFC, as macOS sends NFD)."""
    name = unicodedata.normalize("NFC", (filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if not name:
        return fallback
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        name = (stem[: 254 - len(extension)] + dot + extension) if dot and len(extension) < 20 else name[:255]
    return name


def sniff(head: bytes) -> str | None:
    """What the first bytes say the file is: a format, "zip", "ole", "executable" or None (unknown)."""
    if head.startswith(_EXECUTABLES):
        return "executable"
    if head.startswith(_PNG):
        return "png"
    if head.startswith(_JPEG):
        return "jpeg"
    if head.startswith(_ZIP):
        return "zip"
    if head.startswith(_OLE):
        return "ole"
    # Readers accept "%PDF-" anywhere in the first kilobyte (some generators put junk before it).
    if b"%PDF-" in head[:1024]:
        return "pdf"
    return None


def _container(format_: str) -> str:
    return {"docx": "zip", "xlsx": "zip", "hwpx": "zip", "hwp": "ole"}.get(format_, format_)


def zip_format(path: Path) -> str | None:
    """docx, xlsx or hwpx by the archive's entries; None for any other or a broken ZIP."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                with archive.open("mimetype") as entry:
                    declared = entry.read(100)  # a few bytes only: never inflate a whole entry to check
                if b"application/hwp+zip" in declared:
                    return "hwpx"
            if "[Content_Types].xml" in names:
                if any(name.startswith("word/") for name in names):
                    return "docx"
                if any(name.startswith("xl/") for name in names):
                    return "xlsx"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, KeyError, RuntimeError, NotImplementedError):
        return None
    return None


def _mismatch(extension: str, expected: str, actual: str | None) -> FileRejected:
    titles = _format_titles()
    if actual == "executable":
        return FileRejected(
            "executable",
            _l("This file is a program (executable), not a document, and cannot be uploaded."),
        )
    if actual is not None and actual in titles and actual != expected:
        return FileRejected(
            "content_mismatch",
            _l(
                "The file is named .%(ext)s but its content is %(actual)s. Upload the file in its real "
                "format, with the matching extension.",
                ext=extension,
                actual=titles[actual],
            ),
        )
    return FileRejected(
        "content_mismatch",
        _l(
            "The file is named .%(ext)s but its content is not %(expected)s. It may be damaged or saved "
            "in another format.",
            ext=extension,
            expected=titles[expected],
        ),
    )


def _read_head(stream: IO[bytes]) -> bytes:
    head = b""
    while len(head) < HEAD:
        chunk = stream.read(HEAD - len(head))
        if not chunk:
            break
        head += chunk
    return head


def store_upload(stream: IO[bytes], filename: str, max_bytes: int) -> StoredFile:
    """Checks and stores one upload, reading it once: the extension must be allowed, the first bytes must
    agree with it (ZIP-based formats by their entries, HWP by its signature), and the size must not pass
    `max_bytes`. The bytes go to a temporary file beside their final place and are renamed into it only
    when every check passed, so a refused or broken upload leaves nothing behind.

    Raises FileRejected or FileTooLarge. The caller owns the stored file from then on (see
    `delete_on_rollback`)."""
    extension = check_extension(filename)
    expected = EXTENSION_FORMATS[extension]

    head = _read_head(stream)
    if not head:
        raise FileRejected("empty", _l("The file is empty. Choose the file again."))
    detected = sniff(head)
    if detected == "executable" or detected != _container(expected):
        raise _mismatch(extension, expected, detected)
    if len(head) > max_bytes:
        raise FileTooLarge(max_bytes)

    stored_name = f"{uuid.uuid4().hex}.{extension}"
    final = upload_dir() / stored_name[:2] / stored_name
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(dir=final.parent, prefix=".upload-", suffix=".part")
    temporary = Path(temporary_name)
    digest = hashlib.sha256()
    size = 0
    found_hwp_signature = False
    tail = b""
    try:
        with os.fdopen(handle, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLarge(max_bytes)
                digest.update(chunk)
                out.write(chunk)
                if expected == "hwp" and not found_hwp_signature:
                    # Keep the end of the previous chunk so a signature split between chunks is found.
                    window = tail + chunk
                    found_hwp_signature = _HWP_SIGNATURE in window
                    tail = window[-(len(_HWP_SIGNATURE) - 1) :]
                chunk = stream.read(CHUNK)
            out.flush()
            os.fsync(out.fileno())
        if expected in ("docx", "xlsx", "hwpx"):
            actual = zip_format(temporary)
            if actual != expected:
                raise _mismatch(extension, expected, actual or "zip")
        if expected == "hwp" and not found_hwp_signature:
            raise _mismatch(extension, expected, "ole")
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return StoredFile(
        stored_name=stored_name,
        path=final,
        size=size,
        sha256=digest.hexdigest(),
        content_type=CONTENT_TYPES[expected],
        extension=extension,
    )


# --- files whose row did not commit ---------------------------------------------------------------------

_PENDING = "crm_uploaded_files"


def delete_on_rollback(path: Path, session: Session | None = None) -> None:
    """Removes `path` unless the session's transaction commits (a rollback, a failed commit or a request
    that ends without committing), so no file outlives the row that would have pointed at it.

    Known gap: a file stored inside a savepoint that rolls back while the outer transaction commits stays
    on disk as an orphan; no operation stores files inside savepoints."""
    from crm.extensions import db

    target = session or db.session()
    target.connection()  # begin the transaction now, so its end is seen
    target.info.setdefault(_PENDING, []).append(path)


@sa.event.listens_for(Session, "after_commit")
def _keep_committed_files(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released; the outer transaction may still roll back
        return
    session.info.pop(_PENDING, None)


@sa.event.listens_for(Session, "after_transaction_end")
def _remove_uncommitted_files(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    for path in session.info.pop(_PENDING, []):
        try:
            Path(path).unlink(missing_ok=True)
        except OSError:  # cleanup must never turn the request into an error; the file is only an orphan
            current_app.logger.exception("could not remove uncommitted upload %s", path)
