"""Demo data for `make run` and the browser tests."""
