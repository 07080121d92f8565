"""Importing firms and contacts from XLSX or CSV: column mapping, dry run, background apply, revert."""
