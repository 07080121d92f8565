"""Every marked string must be translated in both catalogues, and the catalogues must be the ones served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent


def test_no_marked_string_is_missing_from_either_catalogue():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "i18n.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, "missing translations (run scripts/i18n.py):\n" + result.stdout[-4000:]


def test_korean_is_the_default_and_english_follows_accept_language(client, app):
    korean = client.get("/login").get_data(as_text=True)
    assert '<html lang="ko">' in korean and "로그인" in korean
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "Sign in" in english


def test_a_signed_in_users_language_setting_wins(client):
    from tests.conftest import login

    user = make_user(locale="en")
    login(client, user.email)
    page = client.get("/account", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Change password" in page
