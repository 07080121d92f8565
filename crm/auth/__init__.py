"""Sign-in, sessions, roles and user administration."""
