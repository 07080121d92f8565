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
# Hand-written DDL that autogenerate cannot see (PostgreSQL only): the extensions the indexes need (pg_trgm
# for the firm search) are created at the start of upgrade(), and each migrations/extra/*.sql runs at its
# end; access_logs' insert-only trigger is the one so far.
.venv/bin/python - <<'PY'
from pathlib import Path

migration = next(Path("migrations/versions").glob("0001_*.py"))
text = migration.read_text()
extras = sorted(Path("migrations/extra").glob("*.sql"))
marker = "    # ### end Alembic commands ###"
upgrade_end = text.index(marker, text.index("def upgrade()")) + len(marker)
call = "\n    _extra_postgresql_ddl()"
text = text[:upgrade_end] + call + text[upgrade_end:]
upgrade_start = text.index("\n", text.index("def upgrade()")) + 1
text = text[:upgrade_start] + "    _postgresql_extensions()\n" + text[upgrade_start:]
text += "\n\n# Appended by scripts/regen-initial-migration.sh from migrations/extra/*.sql.\nEXTRA_POSTGRESQL_DDL = [\n"
for path in extras:
    text += f"    # {path}\n    {path.read_text()!r},\n"
text += (
    "]\n\n\ndef _postgresql_extensions() -> None:\n"
    '    if op.get_bind().dialect.name == "postgresql":\n'
    '        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")\n'
    "\n\ndef _extra_postgresql_ddl() -> None:\n"
    '    if op.get_bind().dialect.name == "postgresql":\n'
    "        for ddl in EXTRA_POSTGRESQL_DDL:\n"
    "            op.execute(ddl)\n"
)
migration.write_text(text)
PY
.venv/bin/ruff format migrations/versions >/dev/null 2>&1 || true
ls migrations/versions
