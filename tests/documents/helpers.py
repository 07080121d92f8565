"""Minimal but real files of every accepted type, and helpers to upload them as a browser does."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import sqlalchemy as sa

from crm.documents.models import Document
from crm.extensions import db
from tests.conftest import csrf_token

PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    + b"\x00" * 16
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32 + b"\xff\xd9"
OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HWP = OLE_HEADER + b"\x00" * 504 + b"HWP Document File" + b"\x00" * 1024
DOC = OLE_HEADER + b"\x00" * 2048  # an older Word file: OLE, but without the HWP signature
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
    + b"\x00" * 64
    + b"This program cannot be run in DOS mode"
)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            # HWPX (like ODF/EPUB) keeps `mimetype` first and uncompressed.
            compress = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, content, compress_type=compress)
    return buffer.getvalue()


CONTENT_TYPES_XML = (
    b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)
DOCX = _zip({"[Content_Types].xml": CONTENT_TYPES_XML, "word/document.xml": b"<w:document/>"})
XLSX = _zip({"[Content_Types].xml": CONTENT_TYPES_XML, "xl/workbook.xml": b"<workbook/>"})
HWPX = _zip({"mimetype": b"application/hwp+zip", "Contents/section0.xml": b"<hs:sec/>"})
PLAIN_ZIP = _zip({"readme.txt": b"hello"})

SAMPLES = {
    "pdf": PDF,
    "png": PNG,
    "jpg": JPEG,
    "jpeg": JPEG,
    "docx": DOCX,
    "xlsx": XLSX,
    "hwpx": HWPX,
    "hwp": HWP,
}


def upload(client, application_id: int, filename: str, content: bytes, kind: str = "business_plan", **extra):
    data = {
        "csrf_token": csrf_token(client, "/account"),
        "kind": kind,
        "file": (io.BytesIO(content), filename),
        **extra,
    }
    return client.post(
        f"/applications/{application_id}/documents", data=data, content_type="multipart/form-data"
    )


def stored_files(root: Path) -> list[Path]:
    """Every file under the upload folder, temporary ones included."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def documents_of(application_id: int) -> list[Document]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(Document).where(Document.application_id == application_id).order_by(Document.id)
        )
    )
