"""Shared machinery: database base, enums, time, permissions, side effects after commit."""
