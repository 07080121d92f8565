"""P5's floor: the barest Flask app, one route answering a small HTML page. Served by the same gunicorn
command as the CRM, it shows what gunicorn, WSGI and Flask cost before any of the CRM's own work.

    gunicorn bench.bare_app:app
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)

PAGE = "<!doctype html><html lang=ko><title>bare</title><h1>기업</h1><p>Hello from a bare Flask route.</p>"


@app.get("/")
def index() -> str:
    return PAGE
