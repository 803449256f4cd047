from __future__ import annotations

import requests

from airflow_oauth_connector.auth import OAuthAuth, OAuthSession
from airflow_oauth_connector.token import Token
from tests.support.fake_http import FakeTransport, bearer, query


class Tokens:
    """A token source that hands out tok-1, tok-2, ... and records rejections."""

    def __init__(self) -> None:
        self.n = 1
        self.rejected: list[str] = []

    def get_token(self) -> Token:
        return Token(access_token=f"tok-{self.n}")

    def refresh_after_rejection(self, rejected: Token) -> Token:
        self.rejected.append(rejected.access_token)
        self.n += 1
        return self.get_token()


def session_with(auth: OAuthAuth, transport: FakeTransport, base: str = "https://api.example.com") -> OAuthSession:
    session = OAuthSession(base, auth)
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session


def test_bearer_header_on_same_origin_only():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://", lambda r: (200, {}, {"ok": True}))
    transport.route("*", "http://", lambda r: (200, {}, {"ok": True}))
    session = session_with(OAuthAuth(tokens, "https://api.example.com:443"), transport)
    session.get("https://api.example.com/items")
    session.get("https://api.example.com:443/items")
    session.get("https://evil.example.com/items")
    session.get("http://api.example.com/items")  # scheme downgrade is another origin
    session.get("https://api.example.com:8443/items")
    sent = [bearer(r) for r in transport.requests]
    assert sent == ["tok-1", "tok-1", None, None, None]


def test_401_refreshes_once_and_replays_once():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (200, {}, {}) if bearer(r) == "tok-2" else (401, {}, {}))
    session = session_with(OAuthAuth(tokens, "https://api.example.com:443"), transport)
    response = session.post("https://api.example.com/things", json={"a": 1})
    assert response.status_code == 200
    assert [bearer(r) for r in transport.requests] == ["tok-1", "tok-2"]
    assert transport.requests[1].body == transport.requests[0].body
    assert tokens.rejected == ["tok-1"]
    assert response.history[0].status_code == 401


def test_persistent_401_is_returned_after_one_replay():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (401, {}, {}))
    session = session_with(OAuthAuth(tokens, "https://api.example.com:443"), transport)
    response = session.get("https://api.example.com/x")
    assert response.status_code == 401
    assert len(transport.requests) == 2
    assert tokens.rejected == ["tok-1"]


def test_custom_header_without_prefix_and_query_parameter():
    transport = FakeTransport()
    transport.route("*", "https://", lambda r: (200, {}, {}))
    auth = OAuthAuth(Tokens(), "https://api.example.com:443", header_name="X-Api-Key", header_prefix="")
    session_with(auth, transport).get("https://api.example.com/x")
    assert transport.requests[0].headers["X-Api-Key"] == "tok-1"
    assert "Authorization" not in transport.requests[0].headers

    auth = OAuthAuth(Tokens(), "https://api.example.com:443", query_param="access_token")
    session_with(auth, transport).get("https://api.example.com/x", params={"access_token": "forged", "a": "b"})
    assert query(transport.requests[-1]) == {"a": "b", "access_token": "tok-1"}


def test_token_header_does_not_follow_cross_origin_redirect():
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (302, {"Location": "https://cdn.example.net/file"}, b""))
    transport.route("*", "https://cdn.example.net/", lambda r: (200, {}, {}))
    auth = OAuthAuth(Tokens(), "https://api.example.com:443", header_name="X-Api-Key", header_prefix="")
    response = session_with(auth, transport).get("https://api.example.com/download")
    assert response.status_code == 200
    followed = transport.requests[-1]
    assert str(followed.url).startswith("https://cdn.example.net/")
    assert "X-Api-Key" not in followed.headers
    assert "Authorization" not in followed.headers


def test_same_origin_redirect_keeps_custom_header():
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/old", lambda r: (301, {"Location": "/new"}, b""))
    transport.route("*", "https://api.example.com/new", lambda r: (200, {}, {}))
    auth = OAuthAuth(Tokens(), "https://api.example.com:443", header_name="X-Api-Key", header_prefix="")
    session_with(auth, transport).get("https://api.example.com/old")
    assert transport.requests[-1].headers["X-Api-Key"] == "tok-1"


def test_repr_has_no_token():
    assert "tok" not in repr(OAuthAuth(Tokens(), "https://api.example.com:443"))
    assert isinstance(OAuthSession("https://x", OAuthAuth(Tokens(), "https://x:443")), requests.Session)


def test_origin_verdicts_are_cached_per_exact_scheme_and_netloc():
    auth = OAuthAuth(Tokens(), "https://api.example.com:443")
    assert auth.applies_to("https://api.example.com")  # no path
    assert not auth.applies_to("https://api.example.co/x")  # a prefix of the cached key is another host
    assert not auth.applies_to("https://api.example.com.evil.test/x")
    assert not auth.applies_to("https://api.example.com@evil.test/x")
    assert auth.applies_to("https://api.example.com/x?y=1")
    assert auth.applies_to("https://api.example.com:443/x")
    assert not auth.applies_to("http://api.example.com/x")
    for n in range(200):  # the cache stays bounded
        auth.applies_to(f"https://h{n}.example.com/")
    assert len(auth._same_origin) <= 64
