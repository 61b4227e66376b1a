"""Redirect URIs are parsed, never prefix-matched (issue 14, item 9; RFC 6749 §3.1.2, RFC 8252 §7.3)."""

from __future__ import annotations

import pytest

from hub.access import redirect_uris


@pytest.mark.parametrize(
    "uri",
    [
        "https://client.example/cb",
        "https://client.example:8443/a/b?x=1",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]/cb",
        "https://10.0.0.5/cb",
    ],
)
def test_these_may_be_registered(uri: str) -> None:
    assert redirect_uris.problem_with(uri) is None


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://example.com/cb", "http is only for a loopback"),
        ("http://127.0.0.1.evil.example/cb", "http is only for a loopback"),
        ("http://localhost/cb", "http is only for a loopback"),
        ("http://127.0.0.1@evil.example/cb", "user name"),
        ("https://a.example/cb#top", "fragment"),
        ("https://a.example/cb#", "fragment"),
        ("/cb", "absolute"),
        ("ftp://a.example/cb", "absolute"),
        ("https://a.example:0/cb", "port 0"),
        ("https://a.example:65536/cb", "not a URI"),
        ("https://a.example/\tcb", "control"),
        ("https://a..example/cb", "not a host name"),
        ("https://" + "a" * 1020 + ".example/", "longer than 1024"),
    ],
)
def test_these_are_refused_with_the_reason(uri: str, reason: str) -> None:
    problem = redirect_uris.problem_with(uri)
    assert problem is not None and reason in problem, problem


def test_matching_is_exact_except_a_loopback_port() -> None:
    registered = ["https://client.example/cb", "http://127.0.0.1/cb", "http://[::1]:9/native"]
    assert redirect_uris.matches(registered, "https://client.example/cb")
    assert redirect_uris.matches(registered, "http://127.0.0.1:53127/cb")
    assert redirect_uris.matches(registered, "http://127.0.0.1/cb")
    assert redirect_uris.matches(registered, "http://[::1]:4000/native")
    for requested in (
        "https://client.example/cb/",
        "https://client.example:443/cb",
        "http://127.0.0.1:1/cb2",
        "http://127.0.0.1.evil.example/cb",
        "http://127.0.0.1:1@evil.example/cb",
        "https://127.0.0.1/cb",
        "http://[::1]:4000/cb",
        "http://127.0.0.1:99999/cb",
    ):
        assert not redirect_uris.matches(registered, requested), requested
