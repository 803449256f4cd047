"""The request flow and its two adapters: requests (OAuthAuth + OAuthSession) and httpx (AsyncOAuthAuth)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import pytest
import requests

from airflow_oauth_connector.exceptions import InvalidClientError
from airflow_oauth_connector.flow import (
    AsyncOAuthAuth,
    AsyncTokens,
    OAuthAuth,
    OAuthSession,
    Presentation,
    RefreshOn401,
    Replay,
    RequestFlow,
    strip_foreign_token,
)
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_manager import TokenManager
from tests.support.builders import TOKEN_URL, AsyncFace, Tokens, make_client, make_profile
from tests.support.fake_http import FakeTransport, TokenServer, bearer, form, query

ORIGIN = "https://api.example.com:443"
T = TypeVar("T")


def within(seconds: float, coro: Awaitable[T]) -> T:
    """Run ``coro`` in a fresh event loop, failing the test if it takes longer than ``seconds``."""
    return asyncio.run(asyncio.wait_for(coro, seconds))  # type: ignore[arg-type]


def auth(tokens: Tokens | None = None, **presentation: Any) -> OAuthAuth:
    return OAuthAuth(tokens or Tokens(), RequestFlow(ORIGIN, Presentation(**presentation)))


def session_with(auth: OAuthAuth, transport: FakeTransport, base: str = "https://api.example.com") -> OAuthSession:
    session = OAuthSession(base, auth)
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session


# -- requests adapter ---------------------------------------------------------------------------------------


def test_bearer_header_on_same_origin_only():
    transport = FakeTransport()
    transport.route("*", "https://", lambda r: (200, {}, {"ok": True}))
    transport.route("*", "http://", lambda r: (200, {}, {"ok": True}))
    session = session_with(auth(), transport)
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
    session = session_with(auth(tokens), transport)
    response = session.post("https://api.example.com/things", json={"a": 1})
    assert response.status_code == 200
    assert [bearer(r) for r in transport.requests] == ["tok-1", "tok-2"]
    assert transport.requests[1].body == transport.requests[0].body
    assert tokens.rejected == ["tok-1"]
    assert [r.status_code for r in response.history] == [401]


def test_persistent_401_is_returned_after_one_replay():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (401, {}, {}))
    response = session_with(auth(tokens), transport).get("https://api.example.com/x")
    assert response.status_code == 401
    assert len(transport.requests) == 2
    assert tokens.rejected == ["tok-1"]


def test_401_from_a_foreign_origin_is_left_alone():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://other.example.com/", lambda r: (401, {}, {}))
    response = session_with(auth(tokens), transport).get("https://other.example.com/x")
    assert response.status_code == 401
    assert len(transport.requests) == 1
    assert bearer(transport.requests[0]) is None
    assert tokens.rejected == []


def test_non_replayable_body_is_not_replayed():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (401, {}, {}))
    session = session_with(auth(tokens), transport)
    response = session.post("https://api.example.com/upload", data=iter([b"chunk-1", b"chunk-2"]))
    assert response.status_code == 401
    assert len(transport.requests) == 1  # a streamed body cannot be sent a second time
    assert tokens.rejected == []


def test_custom_header_without_prefix_and_query_parameter():
    transport = FakeTransport()
    transport.route("*", "https://", lambda r: (200, {}, {}))
    session_with(auth(header_name="X-Api-Key", scheme=""), transport).get("https://api.example.com/x")
    assert transport.requests[0].headers["X-Api-Key"] == "tok-1"
    assert "Authorization" not in transport.requests[0].headers

    session = session_with(auth(query_param="access_token"), transport)
    session.get("https://api.example.com/x", params={"access_token": "forged", "a": "b"})
    assert query(transport.requests[-1]) == {"a": "b", "access_token": "tok-1"}


def test_query_parameter_token_is_replaced_on_replay():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (200, {}, {}) if "tok-2" in r.url else (401, {}, {}))
    response = session_with(auth(tokens, query_param="access_token"), transport).get("https://api.example.com/x")
    assert response.status_code == 200
    assert [query(r)["access_token"] for r in transport.requests] == ["tok-1", "tok-2"]


def test_token_header_does_not_follow_cross_origin_redirect():
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (302, {"Location": "https://cdn.example.net/file"}, b""))
    transport.route("*", "https://cdn.example.net/", lambda r: (200, {}, {}))
    response = session_with(auth(header_name="X-Api-Key", scheme=""), transport).get("https://api.example.com/dl")
    assert response.status_code == 200
    followed = transport.requests[-1]
    assert str(followed.url).startswith("https://cdn.example.net/")
    assert "X-Api-Key" not in followed.headers
    assert "Authorization" not in followed.headers


def test_query_token_does_not_follow_cross_origin_redirect():
    transport = FakeTransport()
    transport.route(
        "*", "https://api.example.com/", lambda r: (302, {"Location": "https://cdn.example.net/f?a=1"}, b"")
    )
    transport.route("*", "https://cdn.example.net/", lambda r: (200, {}, {}))
    session_with(auth(query_param="access_token"), transport).get("https://api.example.com/dl")
    assert query(transport.requests[-1]) == {"a": "1"}


def test_same_origin_redirect_keeps_custom_header():
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/old", lambda r: (301, {"Location": "/new"}, b""))
    transport.route("*", "https://api.example.com/new", lambda r: (200, {}, {}))
    session_with(auth(header_name="X-Api-Key", scheme=""), transport).get("https://api.example.com/old")
    assert transport.requests[-1].headers["X-Api-Key"] == "tok-1"


def test_401_after_a_same_origin_redirect_replays_the_redirected_request():
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/old", lambda r: (301, {"Location": "/new"}, b""))
    transport.route(
        "*", "https://api.example.com/new", lambda r: (200, {}, {}) if bearer(r) == "tok-2" else (401, {}, {})
    )
    response = session_with(auth(tokens), transport).get("https://api.example.com/old")
    assert response.status_code == 200
    assert [(r.path_url, bearer(r)) for r in transport.requests] == [
        ("/old", "tok-1"),
        ("/new", "tok-1"),
        ("/new", "tok-2"),
    ]


def test_repr_has_no_token():
    assert "tok" not in repr(auth())
    assert isinstance(OAuthSession("https://x", OAuthAuth(Tokens(), RequestFlow("https://x:443"))), requests.Session)


def test_origin_verdicts_are_cached_per_exact_scheme_and_netloc():
    flow = RequestFlow(ORIGIN)
    assert flow.applies_to("https://api.example.com")  # no path
    assert not flow.applies_to("https://api.example.co/x")  # a prefix of the cached key is another host
    assert not flow.applies_to("https://api.example.com.evil.test/x")
    assert not flow.applies_to("https://api.example.com@evil.test/x")
    assert flow.applies_to("https://api.example.com/x?y=1")
    assert flow.applies_to("https://api.example.com:443/x")
    assert not flow.applies_to("http://api.example.com/x")
    for n in range(200):  # the cache stays bounded
        flow.applies_to(f"https://h{n}.example.com/")
    assert len(flow._same_origin) <= 64
    flow.rebind("https://h1.example.com:443")
    assert flow.applies_to("https://h1.example.com/x")
    assert not flow.applies_to("https://api.example.com/x")


# -- extension points (how DPoP proofs and fixed API headers plug in) ----------------------------------------


class ProofHeaders:
    """A per-request header computed from method, URL and token (the shape of a DPoP proof source)."""

    def __init__(self) -> None:
        self.nonce: str | None = None
        self.calls = 0

    def __call__(self, method: str, url: str, token: Token) -> Mapping[str, str]:
        self.calls += 1
        return {"X-Proof": f"{method} {url} {token.access_token} {self.nonce} #{self.calls}"}


class NonceRule:
    """A one-time replay with the same token after the server asked for a nonce (like use_dpop_nonce)."""

    statuses = frozenset({400, 401})

    def __init__(self, proofs: ProofHeaders) -> None:
        self.proofs = proofs

    def __call__(self, status: int, headers: Mapping[str, str]) -> Replay | None:
        if "use_nonce" not in headers.get("WWW-Authenticate", ""):
            return None
        self.proofs.nonce = headers["X-Nonce"]
        return Replay.SAME_TOKEN


def test_header_sources_are_computed_per_request_and_again_on_replay():
    proofs = ProofHeaders()
    tokens = Tokens()
    flow = RequestFlow(
        ORIGIN, Presentation(scheme="DPoP"), header_sources=[proofs], rules=[NonceRule(proofs), RefreshOn401()]
    )
    nonce_asked = {"WWW-Authenticate": 'DPoP error="use_nonce"', "X-Nonce": "n-1"}

    def api(r: requests.PreparedRequest) -> tuple[int, dict[str, str], Any]:
        if "None" in r.headers["X-Proof"]:
            return 401, nonce_asked, b""
        if r.headers["Authorization"] == "DPoP tok-1":
            return 401, {"WWW-Authenticate": 'DPoP error="invalid_token"'}, b""
        return 200, {}, {}

    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", api)
    response = session_with(OAuthAuth(tokens, flow), transport).get("https://api.example.com/x")
    assert response.status_code == 200
    sent = [(r.headers["Authorization"], r.headers["X-Proof"]) for r in transport.requests]
    assert sent == [
        ("DPoP tok-1", "GET https://api.example.com/x tok-1 None #1"),
        ("DPoP tok-1", "GET https://api.example.com/x tok-1 n-1 #2"),  # the same token, with the nonce
        ("DPoP tok-2", "GET https://api.example.com/x tok-2 n-1 #3"),  # then one refresh after invalid_token
    ]
    assert tokens.rejected == ["tok-1"]


def test_each_rule_fires_at_most_once():
    proofs = ProofHeaders()
    flow = RequestFlow(ORIGIN, header_sources=[proofs], rules=[NonceRule(proofs), RefreshOn401()])
    transport = FakeTransport()
    transport.route(
        "*", "https://api.example.com/", lambda r: (401, {"WWW-Authenticate": "use_nonce", "X-Nonce": "n"}, b"")
    )
    response = session_with(OAuthAuth(Tokens(), flow), transport).get("https://api.example.com/x")
    assert response.status_code == 401
    assert len(transport.requests) == 3  # the first attempt, one nonce replay, one refresh replay
    assert [r.status_code for r in response.history] == [401, 401]


# -- httpx adapter --------------------------------------------------------------------------------------------


def httpx_client(
    tokens: Tokens, handler: Callable[[httpx.Request], httpx.Response], **presentation: Any
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        # a snapshot: httpx resends the same (mutable) request object after re-attaching it
        sent.append(httpx.Request(request.method, request.url, headers=request.headers.copy(), content=request.read()))
        return handler(request)

    flow = RequestFlow(ORIGIN, Presentation(**presentation))
    client = httpx.AsyncClient(
        auth=AsyncOAuthAuth(AsyncFace(tokens), flow),
        transport=httpx.MockTransport(record),
        follow_redirects=True,
        event_hooks={"request": [strip_foreign_token]},
    )
    return client, sent


def httpx_bearer(request: httpx.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def test_httpx_401_refreshes_once_and_replays_once():
    tokens = Tokens()
    client, sent = httpx_client(tokens, lambda r: httpx.Response(200 if httpx_bearer(r) == "tok-2" else 401))

    async def go() -> httpx.Response:
        async with client:
            return await client.post("https://api.example.com/things", json={"a": 1})

    response = within(10, go())
    assert response.status_code == 200
    assert [httpx_bearer(r) for r in sent] == ["tok-1", "tok-2"]
    assert sent[0].content == sent[1].content == b'{"a":1}'
    assert tokens.rejected == ["tok-1"]


def test_httpx_persistent_401_and_foreign_origin():
    tokens = Tokens()
    client, sent = httpx_client(tokens, lambda r: httpx.Response(401))

    async def go() -> list[int]:
        async with client:
            same = await client.get("https://api.example.com/x")
            foreign = await client.get("https://evil.example.com/x")
            return [same.status_code, foreign.status_code]

    assert within(10, go()) == [401, 401]
    assert [(r.url.host, httpx_bearer(r)) for r in sent] == [
        ("api.example.com", "tok-1"),
        ("api.example.com", "tok-2"),
        ("evil.example.com", None),
    ]
    assert tokens.rejected == ["tok-1"]


def test_httpx_non_replayable_body_is_not_replayed():
    tokens = Tokens()
    client, sent = httpx_client(tokens, lambda r: httpx.Response(401))

    async def body():  # type: ignore[no-untyped-def]
        yield b"chunk"

    async def go() -> int:
        async with client:
            return (await client.post("https://api.example.com/upload", content=body())).status_code

    assert within(10, go()) == 401
    assert len(sent) == 1
    assert tokens.rejected == []


def test_httpx_custom_header_and_query_token_do_not_follow_cross_origin_redirects():
    def handler(r: httpx.Request) -> httpx.Response:
        if r.url.host == "api.example.com":
            return httpx.Response(302, headers={"Location": "https://cdn.example.net/f?a=1"})
        return httpx.Response(200)

    for presentation, check in (
        ({"header_name": "X-Api-Key", "scheme": ""}, lambda r: "X-Api-Key" not in r.headers),
        ({"query_param": "access_token"}, lambda r: dict(r.url.params) == {"a": "1"}),
    ):
        client, sent = httpx_client(Tokens(), handler, **presentation)

        async def go(client: httpx.AsyncClient = client) -> int:
            async with client:
                return (await client.get("https://api.example.com/dl")).status_code

        assert within(10, go()) == 200
        assert sent[0].url.host == "api.example.com"
        assert not check(sent[0])  # the token went to the API
        assert sent[-1].url.host == "cdn.example.net"
        assert check(sent[-1])  # and not to the CDN


# -- AsyncTokens: single flight in an event loop ---------------------------------------------------------------


def counting_manager(server: TokenServer, store: MemoryTokenStore, gate: threading.Event | None = None) -> TokenManager:
    transport = FakeTransport()

    def token_endpoint(request: requests.PreparedRequest) -> Any:
        if gate is not None:
            gate.wait(5)
        return server(request)

    transport.route("POST", TOKEN_URL, token_endpoint)
    profile = make_profile()
    return TokenManager(profile, make_client(profile, transport), store)


def test_many_callers_in_one_loop_share_one_token_request():
    server = TokenServer()
    store = MemoryTokenStore()
    gate = threading.Event()
    managers = [counting_manager(server, store, gate) for _ in range(50)]  # one hook (and manager) per trigger

    async def go() -> list[str]:
        calls = [asyncio.ensure_future(AsyncTokens(m).get_token()) for m in managers]
        await asyncio.sleep(0.05)
        gate.set()  # the token endpoint answers once every caller is waiting
        return [t.access_token for t in await asyncio.gather(*calls)]

    assert within(10, go()) == ["access-1"] * 50
    assert server.grants == ["client_credentials"]
    assert all(m.cached() is not None for m in managers)  # later calls need no I/O at all


def test_a_failed_token_request_fails_every_waiting_caller_at_once_and_a_later_caller_tries_again():
    requests_seen: list[str] = []
    gate = threading.Event()
    transport = FakeTransport()

    def refusing(request: requests.PreparedRequest) -> Any:
        requests_seen.append(form(request)["grant_type"])
        gate.wait(5)
        return 401, {}, {"error": "invalid_client", "error_description": "client authentication failed"}

    transport.route("POST", TOKEN_URL, refusing)
    store = MemoryTokenStore()
    profile = make_profile()
    managers = [TokenManager(profile, make_client(profile, transport), store) for _ in range(30)]

    async def go() -> list[BaseException | Token]:
        calls = [asyncio.ensure_future(AsyncTokens(m).get_token()) for m in managers]
        await asyncio.sleep(0.05)
        gate.set()  # the token endpoint refuses once every caller is waiting
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = within(10, go())
    assert requests_seen == ["client_credentials"]  # one request, not one per waiting caller in turn
    assert all(isinstance(outcome, InvalidClientError) for outcome in outcomes)

    async def later() -> BaseException | Token:
        return (await asyncio.gather(AsyncTokens(managers[0]).get_token(), return_exceptions=True))[0]

    assert isinstance(within(10, later()), InvalidClientError)
    assert requests_seen == ["client_credentials"] * 2  # a caller that came after the failure asked again


def test_async_refresh_after_rejection_renews_once_for_all_callers():
    server = TokenServer()
    store = MemoryTokenStore()
    managers = [counting_manager(server, store) for _ in range(20)]

    async def go() -> list[str]:
        first = await AsyncTokens(managers[0]).get_token()
        renewed = await asyncio.gather(*(AsyncTokens(m).refresh_after_rejection(first) for m in managers))
        return [t.access_token for t in renewed]

    assert within(10, go()) == ["access-2"] * 20
    assert server.grants == ["client_credentials", "client_credentials"]


def test_flow_with_a_default_presentation_matches_the_profile():
    profile = make_profile(header_name="X-Token", header_prefix="")
    flow = RequestFlow.for_profile(profile)
    assert flow.origin == "https://api.example.com:443"
    assert flow.presentation == Presentation("X-Token", "", None)
    assert flow.replay_statuses == frozenset({401})


@pytest.mark.parametrize("status", [200, 403, 500])
def test_statuses_no_rule_reads_end_the_flow_without_a_replay(status: int):
    tokens = Tokens()
    transport = FakeTransport()
    transport.route("*", "https://api.example.com/", lambda r: (status, {}, {}))
    response = session_with(auth(tokens), transport).get("https://api.example.com/x")
    assert response.status_code == status
    assert len(transport.requests) == 1


# -- OAuthSession: the environment read once per origin ------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "per_request"),
    [
        ({}, {}),
        ({"HTTPS_PROXY": "http://proxy.internal:3128"}, {}),
        ({"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": "api.example.com"}, {}),
        ({"HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": ".example.com"}, {}),
        ({"ALL_PROXY": "socks5://socks.internal:1080"}, {"proxies": {"https": "http://mine:8080"}}),
        ({"REQUESTS_CA_BUNDLE": "/etc/ssl/corp.pem"}, {}),
        ({"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"}, {"verify": False}),
        ({"REQUESTS_CA_BUNDLE": "/etc/ssl/corp.pem"}, {"verify": "/mine.pem", "cert": "/client.pem"}),
        ({"HTTPS_PROXY": "http://proxy.internal:3128"}, {"proxies": {"no_proxy": "api.example.com"}}),
    ],
)
def test_the_environment_settings_are_requests_own(monkeypatch, environment, per_request):
    """The same proxies, CA bundle and stream/cert settings as a plain requests.Session, for each setting."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    ours = OAuthSession("https://api.example.com/v1", OAuthAuth(Tokens(), RequestFlow(ORIGIN)))
    plain = requests.Session()
    url = "https://api.example.com/v1/items?page=2"
    args = (per_request.get("proxies"), None, per_request.get("verify"), per_request.get("cert"))
    expected = plain.merge_environment_settings(url, dict(args[0] or {}), *args[1:])
    assert ours.merge_environment_settings(url, dict(args[0] or {}), *args[1:]) == expected
    assert ours.merge_environment_settings(url, dict(args[0] or {}), *args[1:]) == expected  # from the cache


def test_the_environment_is_read_once_per_origin(monkeypatch):
    reads: list[str] = []
    real = requests.utils.get_environ_proxies
    monkeypatch.setattr(
        requests.utils, "get_environ_proxies", lambda url, no_proxy=None: reads.append(url) or real(url)
    )
    transport = FakeTransport()
    transport.route("GET", "https://api.example.com/v1/items", lambda request: (200, {}, {"ok": True}))
    transport.route("GET", "https://cdn.example.net/file", lambda request: (200, {}, {"ok": True}))
    session = OAuthSession("https://api.example.com/v1", OAuthAuth(Tokens(), RequestFlow(ORIGIN)))
    session.mount("https://", transport)
    for _ in range(5):
        session.get("https://api.example.com/v1/items")
    session.get("https://cdn.example.net/file")
    assert [url.split("/")[2] for url in reads] == ["api.example.com", "cdn.example.net"]


def test_the_environment_cache_is_bounded(monkeypatch):
    """Settings for many hosts stay requests' own, and at most 64 of them are kept."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "host7.example.com")
    ours = OAuthSession("https://api.example.com/v1", OAuthAuth(Tokens(), RequestFlow(ORIGIN)))
    plain = requests.Session()
    for n in range(80):
        url = f"https://host{n}.example.com/x"
        assert ours.merge_environment_settings(url, {}, None, None, None) == plain.merge_environment_settings(
            url, {}, None, None, None
        )
    assert len(ours._environment) == 64
