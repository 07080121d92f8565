"""Reports (Issue 6 items 2–4): budgets vs committed vs spent with the funding-split check, KPI outcomes and
survey response rates, and time in stage with the engagements past their SLA. Read-only: nothing here
writes. Every figure is aggregated in SQL over the programmes in the user's report scope (`scope.py`), with
a fixed number of queries per page however many programmes there are."""
