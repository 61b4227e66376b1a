"""Browser sessions (server-side rows named by a random id in the signed cookie) and their CSRF token."""
