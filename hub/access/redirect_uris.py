"""Which redirect URIs a client may register, and when a requested one matches (issue 14).

RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI … The endpoint URI MUST NOT
include a fragment component." RFC 9700 §4.1.1 (OAuth 2.0 Security BCP): the authorization server
compares redirect URIs by exact string matching, except for the port of a loopback redirect, where RFC
8252 §7.3 says the server "MUST allow any port to be specified at the time of the request for loopback
IP redirect URIs". §8.3 there: "Loopback redirect URIs use the "http" scheme", with the IP literal, and
"localhost" is "NOT RECOMMENDED" — so only ``127.0.0.1`` and ``[::1]`` count as loopback here.

A URI is parsed, never prefix-matched: ``http://127.0.0.1.evil.example/cb`` is not loopback, and
``http://127.0.0.1@evil.example/cb`` names the host ``evil.example`` with userinfo, which is refused.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

MAX_LENGTH = 1024  # oauth.models.AuthorizationCode.redirect_uri holds what the client sent
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})


def problem_with(uri: str) -> str | None:
    """Why ``uri`` may not be registered as a redirect URI, or None if it may."""
    if len(uri) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        return "contains a space or control character"
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises on a port that is not a number in 0..65535
    except ValueError as exc:
        return f"not a URI ({exc})"
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return "not an absolute https URI"
    if "@" in parts.netloc:
        return "has a user name or password before the host"
    if parts.fragment or uri.endswith("#"):
        return "has a fragment (RFC 6749 §3.1.2)"
    host = parts.hostname or ""
    if not host or (port == 0):
        return "names no host or port 0"
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "http is only for a loopback address (127.0.0.1 or [::1]); use https"
    if parts.scheme == "https" and not _is_host(host):
        return f"{host!r} is not a host name"
    return None


def matches(registered: list[str], requested: str) -> bool:
    """Whether ``requested`` is one of the ``registered`` URIs: exact string match, except that a loopback
    URI matches with any port (RFC 8252 §7.3)."""
    if requested in registered:
        return True
    loopback = _without_port(requested)
    return loopback is not None and any(_without_port(uri) == loopback for uri in registered)


def _without_port(uri: str) -> str | None:
    """``uri`` with its port removed when it is a loopback http URI; None otherwise."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS or "@" in parts.netloc:
        return None
    host = "[::1]" if parts.hostname == "::1" else "127.0.0.1"
    return parts._replace(netloc=host).geturl()


def _is_host(host: str) -> bool:
    """A DNS name of letters, digits and hyphens in dot-separated labels, or an IP literal."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    ) and all(label.isascii() for label in labels)
