"""Type sniffing, storage layout and clean-up of files whose row never committed."""

from __future__ import annotations

import hashlib
import io

import pytest

from crm.documents import storage
from crm.extensions import db
from tests.documents.helpers import DOC, DOCX, EXE, HWP, PDF, PLAIN_ZIP, PNG, SAMPLES, XLSX, stored_files


@pytest.mark.parametrize("extension", sorted(SAMPLES))
def test_every_accepted_type_is_stored_with_its_checksum(app_ctx, upload_dir, extension):
    content = SAMPLES[extension]
    stored = storage.store_upload(io.BytesIO(content), f"서류.{extension.upper()}", 1024 * 1024)
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.path.read_bytes() == content
    # <shard>/<uuid hex>.<ext>, under the upload folder, named by us
    assert stored.path.parent.name == stored.stored_name[:2]
    assert stored.path.parent.parent == upload_dir
    assert stored.stored_name.endswith(f".{extension}") and "서류" not in stored.stored_name
    assert stored_files(upload_dir) == [stored.path]  # no temporary file left


@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        ("report.pdf", EXE, "executable"),
        ("report.hwp", EXE, "executable"),
        ("image.pdf", PNG, "content_mismatch"),
        ("document.png", PDF, "content_mismatch"),
        ("sheet.docx", XLSX, "content_mismatch"),
        ("letter.xlsx", DOCX, "content_mismatch"),
        ("archive.docx", PLAIN_ZIP, "content_mismatch"),
        ("document.hwpx", DOCX, "content_mismatch"),
        ("old-word.hwp", DOC, "content_mismatch"),
        ("hangul.docx", HWP, "content_mismatch"),
        ("broken.docx", b"PK\x03\x04" + b"\x00" * 100, "content_mismatch"),
        ("empty.pdf", b"", "empty"),
        ("setup.exe", EXE, "extension_not_allowed"),
        ("bundle.zip", PLAIN_ZIP, "extension_not_allowed"),
        ("README", PDF, "extension_missing"),
    ],
)
def test_refused_files_leave_nothing_behind(app_ctx, upload_dir, filename, content, reason):
    with pytest.raises(storage.FileRejected) as refused:
        storage.store_upload(io.BytesIO(content), filename, 1024 * 1024)
    assert refused.value.reason == reason
    assert stored_files(upload_dir) == []


def test_messages_name_the_problem(app_ctx, upload_dir):
    with pytest.raises(storage.FileRejected) as renamed:
        storage.store_upload(io.BytesIO(PNG), "scan.pdf", 1024)
    assert "PNG" in str(renamed.value.message) and ".pdf" in str(renamed.value.message)
    with pytest.raises(storage.FileRejected) as not_allowed:
        storage.check_extension("tool.exe")
    message = str(not_allowed.value.message)
    assert ".exe" in message and "HWPX" in message and "XLSX" in message


def test_too_large_stops_and_removes_the_partial_file(app_ctx, upload_dir, monkeypatch):
    monkeypatch.setattr(storage, "CHUNK", 1024)
    content = PDF + b"0" * 200_000
    with pytest.raises(storage.FileTooLarge):
        storage.store_upload(io.BytesIO(content), "big.pdf", 100_000)
    assert stored_files(upload_dir) == []
    # exactly at the limit is fine
    stored = storage.store_upload(io.BytesIO(content), "big.pdf", len(content))
    assert stored.size == len(content)


def test_hwp_signature_split_between_reads_is_found(app_ctx, upload_dir, monkeypatch):
    monkeypatch.setattr(storage, "CHUNK", 4096)
    content = HWP[:8] + b"\x00" * (storage.HEAD - 8 - 5) + b"HWP Document File" + b"\x00" * 5000
    assert storage.store_upload(io.BytesIO(content), "a.hwp", 10**6).size == len(content)


def test_clean_filename_keeps_korean_and_drops_paths_and_controls():
    assert storage.clean_filename("C:\\Users\\me\\사업계획서.hwp") == "사업계획서.hwp"
    assert storage.clean_filename("../../etc/passwd") == "passwd"
    assert storage.clean_filename("a\x00b\r\n.pdf") == "ab.pdf"
    assert storage.clean_filename("...") == "document"
    long = storage.clean_filename("가" * 300 + ".pdf")
    assert len(long) == 255 and long.endswith(".pdf")
    # macOS sends decomposed Hangul; stored names are composed
    assert storage.clean_filename("\u1109\u1161\u110b\u1165\u11b8.pdf") == "사업.pdf"


def test_path_of_accepts_only_generated_names(app_ctx, upload_dir):
    name = "0123456789abcdef0123456789abcdef.pdf"
    assert storage.path_of(name) == upload_dir / "01" / name
    for tampered in (
        "../secret.pdf",
        "/etc/passwd",
        "test-00000001.pdf",
        "0123456789abcdef0123456789abcdef.pdf/x",
    ):
        with pytest.raises(FileNotFoundError):
            storage.path_of(tampered)


def test_file_is_removed_when_the_transaction_rolls_back(app_ctx, upload_dir):
    stored = storage.store_upload(io.BytesIO(PDF), "a.pdf", 10**6)
    storage.delete_on_rollback(stored.path)
    assert stored.path.exists()
    db.session.rollback()
    assert not stored.path.exists()


def test_file_is_kept_when_the_transaction_commits(app_ctx, upload_dir):
    stored = storage.store_upload(io.BytesIO(PDF), "a.pdf", 10**6)
    storage.delete_on_rollback(stored.path)
    with db.session.begin_nested():  # a savepoint released inside does not count as the commit
        pass
    db.session.commit()
    db.session.rollback()  # a later, unrelated rollback must not touch the committed file
    assert stored.path.exists()


def test_a_released_savepoint_then_rollback_still_removes_the_file(app_ctx, upload_dir):
    stored = storage.store_upload(io.BytesIO(PDF), "a.pdf", 10**6)
    storage.delete_on_rollback(stored.path)
    with db.session.begin_nested():
        pass
    db.session.rollback()
    assert not stored.path.exists()
