#!/usr/bin/env bash
# Until the first production release the schema lives in one initial migration, regenerated from the
# models against a scratch PostgreSQL database (PostgreSQL renders defaults that SQLite also accepts).
# After the first release: never edit it again; add new revisions with `flask --app wsgi db migrate`.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="axcrm_regen_$$"
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $scratch"
trap 'psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $scratch"' EXIT
rm -f migrations/versions/*.py
DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$scratch" \
  .venv/bin/flask --app wsgi db revision --autogenerate --rev-id 0001 -m "initial schema" >/dev/null 2>&1
.venv/bin/ruff format migrations/versions >/dev/null 2>&1 || true
ls migrations/versions
