"""Renew signals (``renew_on``) through the request flow: an API's own expired-token answer renews once and replays.

The guarantees of the 401 rule hold for them too: same origin only, replayable bodies only, one renewal per
request whichever rule asks, single flight, both adapters; a body is read only when it is JSON, bounded and
not streamed by the caller.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import requests

from airflow_oauth_connector.flow import (
    ANY_STATUS,
    BUFFERED_EXTENSION,
    MAX_INSPECTED_BODY,
    AsyncOAuthAuth,
    AsyncTokens,
    OAuthAuth,
    OAuthSession,
    RenewOnSignal,
    Replay,
    RequestFlow,
    inspectable,
    strip_foreign_token,
)
from airflow_oauth_connector.profile import RenewSignal
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.token_manager import TokenManager
from tests.support.builders import TOKEN_URL, AsyncFace, Tokens, make_client, make_profile
from tests.support.fake_http import FakeTransport, TokenServer, bearer

pytestmark = pytest.mark.timeout(30)

ORIGIN = "https://api.example.com:443"
SLACK = RenewSignal(statuses=frozenset({200}), path="error", values=frozenset({"token_expired", "invalid_auth"}))
AMAZON = RenewSignal(statuses=frozenset({403}), path="errors.0.code", values=frozenset({"Unauthorized"}))
EXPIRED = {"ok": False, "error": "token_expired"}
UNAUTHORIZED = {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}


def flow(*signals: RenewSignal) -> RequestFlow:
    return RequestFlow(ORIGIN, body_rules=[RenewOnSignal(s) for s in signals])


def session(transport: requests.adapters.BaseAdapter, tokens: Tokens, *signals: RenewSignal) -> OAuthSession:
    s = OAuthSession("https://api.example.com", OAuthAuth(tokens, flow(*signals)))
    s.mount("https://", transport)
    return s


def api(answer: Callable[[str | None], tuple[int, dict[str, str], Any]]) -> FakeTransport:
    transport = FakeTransport()
    transport.route("*", "https://", lambda r: answer(bearer(r)))
    return transport


# -- the rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signal", "status", "body", "expected"),
    [
        (SLACK, 200, EXPIRED, Replay.NEW_TOKEN),
        (SLACK, 200, {"ok": True}, None),
        (SLACK, 200, None, None),  # a body that was not read never matches a body condition
        (SLACK, 500, EXPIRED, None),  # both parts must hold
        (AMAZON, 403, UNAUTHORIZED, Replay.NEW_TOKEN),
        (AMAZON, 403, {"errors": [{"code": "InvalidInput"}]}, None),
        (AMAZON, 403, {"errors": []}, None),
        (RenewSignal(statuses=frozenset({403})), 403, None, Replay.NEW_TOKEN),  # a status alone needs no body
        (RenewSignal(path="expired", values=frozenset({"true"})), 419, {"expired": True}, Replay.NEW_TOKEN),
        (RenewSignal(path="code", values=frozenset({"40001"})), 200, {"code": 40001}, Replay.NEW_TOKEN),
        (RenewSignal(path="error", values=frozenset({"x"})), 200, {"error": {"x": 1}}, None),  # not a scalar
        (RenewSignal(path="error", values=frozenset({"x"})), 200, ["x"], None),
    ],
)
def test_the_rule_claims_only_what_the_signal_declares(signal, status, body, expected):
    assert RenewOnSignal(signal)(status, {}, body) is expected


def test_a_body_condition_alone_looks_at_every_status_but_redirects():
    rule = RenewOnSignal(RenewSignal(path="error", values=frozenset({"token_expired"})))
    assert rule.statuses == ANY_STATUS
    assert {200, 403, 599} <= ANY_STATUS
    assert not {101, 301, 302, 304} & ANY_STATUS
    assert rule.needs_body
    assert not RenewOnSignal(RenewSignal(statuses=frozenset({403}))).needs_body


@pytest.mark.parametrize(
    ("headers", "length_required", "expected"),
    [
        ({"Content-Type": "application/json; charset=utf-8", "Content-Length": "40"}, True, True),
        ({"Content-Type": "application/problem+json", "Content-Length": "40"}, True, True),
        ({"Content-Type": "application/json"}, False, True),
        ({"Content-Type": "application/json"}, True, False),  # httpx: a length must be declared
        ({"Content-Type": "application/json", "Content-Length": str(MAX_INSPECTED_BODY + 1)}, False, False),
        ({"Content-Type": "text/html", "Content-Length": "40"}, False, False),
        ({"Content-Length": "40"}, False, False),
    ],
)
def test_only_a_bounded_json_body_is_inspectable(headers, length_required, expected):
    assert inspectable(headers, length_required=length_required) is expected


def test_for_profile_adds_the_connections_signal_after_the_401_rule():
    plain = RequestFlow.for_profile(make_profile())
    assert plain.replay_statuses == frozenset({401})
    assert plain.body_rules == ()
    slack = RequestFlow.for_profile(make_profile(renew_on={"statuses": [200], "path": "error", "values": ["x"]}))
    assert slack.replay_statuses == frozenset({200, 401})
    assert [type(rule) for rule in slack.body_rules] == [RenewOnSignal]
    dpop = RequestFlow.for_profile(make_profile(dpop=True, renew_on={"statuses": [403]}))
    assert dpop.replay_statuses == frozenset({401, 403})
    assert len(dpop.rules) == 3


# -- requests adapter ------------------------------------------------------------------------------------------


def test_slack_200_token_expired_renews_once_and_replays():
    tokens = Tokens()
    transport = api(lambda token: (200, {}, {"ok": True} if token == "tok-2" else EXPIRED))
    response = session(transport, tokens, SLACK).post("https://api.example.com/chat.postMessage", json={"a": 1})
    assert response.json() == {"ok": True}
    assert [bearer(r) for r in transport.requests] == ["tok-1", "tok-2"]
    assert transport.requests[1].body == transport.requests[0].body
    assert tokens.rejected == ["tok-1"]
    assert [r.json() for r in response.history] == [EXPIRED]


def test_amazon_403_unauthorized_renews_once_and_other_403s_do_not():
    tokens = Tokens()
    transport = api(lambda token: (200, {}, {"payload": []}) if token == "tok-2" else (403, {}, UNAUTHORIZED))
    assert session(transport, tokens, AMAZON).get("https://api.example.com/sellers/v1/x").status_code == 200
    assert tokens.rejected == ["tok-1"]
    other = Tokens()
    transport = api(lambda token: (403, {}, {"errors": [{"code": "AccessDenied"}]}))
    assert session(transport, other, AMAZON).get("https://api.example.com/sellers/v1/x").status_code == 403
    assert len(transport.requests) == 1
    assert other.rejected == []


def test_a_signal_that_persists_is_returned_after_one_renewal():
    tokens = Tokens()
    transport = api(lambda token: (200, {}, EXPIRED))
    response = session(transport, tokens, SLACK).get("https://api.example.com/auth.test")
    assert response.json() == EXPIRED
    assert len(transport.requests) == 2
    assert tokens.rejected == ["tok-1"]


@pytest.mark.parametrize(
    "answers",
    [
        {"tok-1": (401, {}, {}), "tok-2": (200, {}, EXPIRED)},  # the 401 rule renewed: the signal may not again
        {"tok-1": (200, {}, EXPIRED), "tok-2": (401, {}, {})},  # the signal renewed: the 401 rule may not again
    ],
)
def test_the_token_is_renewed_at_most_once_per_request_whichever_rule_asks(answers):
    tokens = Tokens()
    transport = api(lambda token: answers.get(token or "", (200, {}, {"ok": True})))
    session(transport, tokens, SLACK).get("https://api.example.com/auth.test")
    assert [bearer(r) for r in transport.requests] == ["tok-1", "tok-2"]
    assert tokens.rejected == ["tok-1"]


def test_a_signal_from_another_origin_and_a_non_replayable_body_are_left_alone():
    tokens = Tokens()
    transport = api(lambda token: (200, {}, EXPIRED))
    s = session(transport, tokens, SLACK)
    assert s.get("https://files.example.net/x").json() == EXPIRED
    assert s.post("https://api.example.com/upload", data=iter([b"chunk"])).json() == EXPIRED
    assert len(transport.requests) == 2
    assert tokens.rejected == []
    assert bearer(transport.requests[0]) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/json", "Content-Length": str(MAX_INSPECTED_BODY + 1)},
    ],
)
def test_a_body_that_is_not_json_or_too_large_is_not_judged(headers):
    tokens = Tokens()
    transport = api(lambda token: (200, headers, json.dumps(EXPIRED)))
    assert session(transport, tokens, SLACK).get("https://api.example.com/auth.test").status_code == 200
    assert len(transport.requests) == 1
    assert tokens.rejected == []


class StreamingTransport(requests.adapters.BaseAdapter):
    """Answers with an unread body (like a real connection): ``raw`` is read only when someone asks."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__()
        self.status, self.body = status, json.dumps(body).encode()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append(request)
        response = requests.Response()
        response.status_code, response.request, response.url = self.status, request, str(request.url)
        response.headers = requests.structures.CaseInsensitiveDict(
            {"Content-Type": "application/json", "Content-Length": str(len(self.body))}
        )
        response.raw = io.BytesIO(self.body)
        response.connection = self
        return response

    def close(self) -> None:
        pass


def test_a_streamed_call_keeps_its_body_unread_and_a_status_signal_still_applies():
    tokens = Tokens()
    transport = StreamingTransport(200, EXPIRED)
    response = session(transport, tokens, SLACK).get("https://api.example.com/files.download", stream=True)
    assert response._content_consumed is False  # type: ignore[attr-defined]  # the caller's stream is intact
    assert len(transport.sent) == 1
    assert tokens.rejected == []
    assert json.loads(b"".join(response.iter_content(16))) == EXPIRED
    statuses_only = StreamingTransport(403, UNAUTHORIZED)
    s = session(statuses_only, tokens, RenewSignal(statuses=frozenset({403})))
    assert s.get("https://api.example.com/x", stream=True).status_code == 403
    assert len(statuses_only.sent) == 2
    assert tokens.rejected == ["tok-1"]


def test_a_buffered_call_reads_the_unread_body_once_for_the_check():
    tokens = Tokens()
    transport = StreamingTransport(200, {"ok": True, "n": 1})
    response = session(transport, tokens, SLACK).get("https://api.example.com/auth.test")
    assert response.json() == {"ok": True, "n": 1}
    assert len(transport.sent) == 1
    assert tokens.rejected == []


def test_many_threads_hit_by_the_signal_renew_the_token_once():
    server = TokenServer()
    token_transport = FakeTransport()
    token_transport.route("POST", TOKEN_URL, server)
    profile = make_profile(renew_on={"statuses": [200], "path": "error", "values": ["token_expired"]})
    manager = TokenManager(profile, make_client(profile, token_transport), MemoryTokenStore())
    api_transport = api(lambda token: (200, {}, {"ok": True} if token == "access-2" else EXPIRED))
    barrier = threading.Barrier(8)
    statuses: list[Any] = []

    def call() -> None:
        s = OAuthSession("https://api.example.com", OAuthAuth.for_profile(manager, profile))
        s.mount("https://", api_transport)
        barrier.wait(5)
        statuses.append(s.get("https://api.example.com/auth.test").json())

    manager.get_token()  # access-1, which the API now calls expired
    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert statuses == [{"ok": True}] * 8
    assert server.grants == ["client_credentials", "client_credentials"]  # one renewal for all eight


# -- httpx adapter (the trigger) --------------------------------------------------------------------------------


def httpx_client(tokens: Any, handler: Callable[[httpx.Request], httpx.Response], *signals: RenewSignal):
    sent: list[str | None] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Authorization"))
        return handler(request)

    client = httpx.AsyncClient(
        auth=AsyncOAuthAuth(tokens, flow(*signals)),
        transport=httpx.MockTransport(record),
        follow_redirects=True,
        event_hooks={"request": [strip_foreign_token]},
    )
    return client, sent


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_httpx_slack_200_token_expired_renews_once_and_replays():
    tokens = Tokens()
    ok = {"ok": True}
    client, sent = httpx_client(
        AsyncFace(tokens),
        lambda r: httpx.Response(200, json=ok if r.headers["Authorization"] == "Bearer tok-2" else EXPIRED),
        SLACK,
    )

    async def go() -> httpx.Response:
        async with client:
            return await client.post("https://api.example.com/chat.postMessage", json={"a": 1})

    response = run(go())
    assert response.json() == ok
    assert sent == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.rejected == ["tok-1"]


def test_httpx_reads_a_declared_bounded_length_or_a_buffered_callers_body_and_a_streamer_gets_the_bytes():
    tokens = Tokens()

    def chunked(r: httpx.Request) -> httpx.Response:  # no Content-Length: the caller may be streaming it
        return httpx.Response(200, headers={"Content-Type": "application/json"}, stream=httpx.ByteStream(b"{}"))

    client, sent = httpx_client(AsyncFace(tokens), chunked, SLACK)

    async def unread() -> int:
        async with client:
            return (await client.get("https://api.example.com/x")).status_code

    assert run(unread()) == 200
    assert len(sent) == 1

    client, sent = httpx_client(AsyncFace(tokens), lambda r: httpx.Response(200, json={"ok": True, "n": 2}), SLACK)

    async def streamed() -> bytes:
        async with client, client.stream("GET", "https://api.example.com/x") as response:
            return b"".join([chunk async for chunk in response.aiter_bytes()])

    assert json.loads(run(streamed())) == {"ok": True, "n": 2}  # inspected, and still there for the caller
    assert len(sent) == 1
    assert tokens.rejected == []

    def chunked_expired(r: httpx.Request) -> httpx.Response:
        body = b'{"ok": true}' if r.headers["Authorization"] == "Bearer tok-2" else json.dumps(EXPIRED).encode()
        return httpx.Response(200, headers={"Content-Type": "application/json"}, stream=httpx.ByteStream(body))

    client, sent = httpx_client(AsyncFace(tokens), chunked_expired, SLACK)

    async def buffered() -> Any:  # a caller that reads the whole answer anyway says so (as hook.arun does)
        async with client:
            return (await client.get("https://api.example.com/x", extensions={BUFFERED_EXTENSION: True})).json()

    assert run(buffered()) == {"ok": True}  # the chunked body was judged: renewed once and replayed
    assert sent == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.rejected == ["tok-1"]


def test_httpx_many_callers_hit_by_the_signal_cause_one_token_request():
    server = TokenServer()
    token_transport = FakeTransport()
    token_transport.route("POST", TOKEN_URL, server)
    profile = make_profile(renew_on={"statuses": [403], "path": "errors.0.code", "values": ["Unauthorized"]})
    manager = TokenManager(profile, make_client(profile, token_transport), MemoryTokenStore())

    def handler(r: httpx.Request) -> httpx.Response:
        if r.headers["Authorization"] == "Bearer access-2":
            return httpx.Response(200, json={"payload": []})
        return httpx.Response(403, json=UNAUTHORIZED)

    async def go() -> list[int]:
        await AsyncTokens(manager).get_token()  # access-1, which the API now refuses
        client = httpx.AsyncClient(
            auth=AsyncOAuthAuth(AsyncTokens(manager), RequestFlow.for_profile(profile)),
            transport=httpx.MockTransport(handler),
        )
        async with client:
            calls = [client.get("https://api.example.com/v1/x") for _ in range(20)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert run(go()) == [200] * 20
    assert server.grants == ["client_credentials", "client_credentials"]
