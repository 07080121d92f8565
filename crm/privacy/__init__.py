"""PIPA (개인정보 보호법): retention of personal records, the nightly purge and the access-log review."""
