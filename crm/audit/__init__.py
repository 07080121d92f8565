"""Audit trail (who changed what) and the personal-data access log (개인정보 접근기록)."""
