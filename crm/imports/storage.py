"""Uploaded import files on disk, under instance/imports with generated names (never the user's)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import current_app

from crm.documents.storage import delete_on_rollback

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
CHUNK = 1024 * 1024
_STORED_NAME = re.compile(r"[0-9a-f]{32}")


class FileTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredImport:
    stored_name: str
    path: Path
    size: int
    sha256: str


def max_bytes() -> int:
    return int(current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def imports_dir() -> Path:
    return Path(current_app.instance_path) / "imports"


def path_of(stored_name: str) -> Path:
    """Only names this module generates are accepted, so a tampered row never points elsewhere."""
    if not _STORED_NAME.fullmatch(stored_name or ""):
        raise FileNotFoundError(stored_name)
    return imports_dir() / stored_name


def store(stream: IO[bytes], limit: int) -> StoredImport:
    """Copies the upload to a temporary file, renamed into place only when it is within `limit` bytes; the
    file is removed again unless the transaction that records it commits."""
    stored_name = uuid.uuid4().hex
    final = imports_dir() / stored_name
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(dir=final.parent, prefix=".upload-", suffix=".part")
    temporary = Path(temporary_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge(limit)
                digest.update(chunk)
                out.write(chunk)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    delete_on_rollback(final)
    return StoredImport(stored_name=stored_name, path=final, size=size, sha256=digest.hexdigest())
