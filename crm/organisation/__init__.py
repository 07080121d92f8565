"""Consortia (사업단) and their institutions (기관)."""
