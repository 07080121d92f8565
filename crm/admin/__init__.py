"""Administration: users, roles and scopes."""
