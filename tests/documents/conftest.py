from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def upload_dir(app, tmp_path, monkeypatch) -> Path:
    """A fresh upload folder per test, so "nothing left behind" can be checked by listing it."""
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(folder))
    return folder
