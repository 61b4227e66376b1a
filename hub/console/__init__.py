"""The web console: server-rendered pages for admins, auditors and citizens (issue 8)."""
