"""The deferrable trigger's async path: httpx in the event loop, one token for many triggers, typed errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_oauth_connector.events import error_from_event, error_to_event, response_from_event
from airflow_oauth_connector.exceptions import (
    AlreadySentError,
    ApiResponseError,
    DeferredCallFailed,
    EndpointUnreachableError,
    InvalidClientError,
)
from airflow_oauth_connector.pagination import PageRequest
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.triggers import OAuthConnectorTrigger

T = TypeVar("T")
Handler = Callable[["Seen"], Awaitable[tuple[int, dict[str, str], bytes]]]


@dataclass
class Seen:
    """One request the loopback server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackApi:
    """A tiny HTTP/1.1 server in the test's own event loop: a token endpoint and scripted API routes."""

    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    tokens_issued: int = 0
    secret: str = "s3cret-value"
    port: int = 0
    open_connections: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def drop_connections(self) -> None:
        """Close every open connection (kept-alive ones included), as a server going down does."""
        for writer in list(self.open_connections):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                parts = urlsplit(target)
                seen = Seen(method, parts.path, dict(parse_qsl(parts.query)), headers, body)
                self.seen.append(seen)
                status, extra, payload = await self._answer(seen)
                reply = [
                    f"HTTP/1.1 {status} X",
                    f"Content-Length: {len(payload)}",
                    *(f"{k}: {v}" for k, v in extra.items()),
                ]
                writer.write(("\r\n".join(reply) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_connections.discard(writer)
            writer.close()

    async def _answer(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.path == "/token":
            form = dict(parse_qsl(seen.body.decode()))
            if form.get("client_secret") != self.secret:
                return _json(401, {"error": "invalid_client", "error_description": "client authentication failed"})
            self.tokens_issued += 1
            return _json(200, {"access_token": f"tok-{self.tokens_issued}", "token_type": "Bearer", "expires_in": 300})
        handler = self.routes.get(seen.path)
        if handler is None:
            return _json(404, {"error": "no such route"})
        return await handler(seen)


def _json(status: int, body: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def within(seconds: float, coro: Awaitable[T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, seconds))  # type: ignore[arg-type]


@pytest.fixture
def api(monkeypatch) -> LoopbackApi:
    monkeypatch.setattr(MemoryTokenStore, "_shared", None)  # a fresh process-wide memory store per test
    return LoopbackApi()


def define_connection(monkeypatch, api: LoopbackApi, conn_id: str = "loop_api", secret: str | None = None) -> str:
    """The connection to ``api`` (call once it listens: its URL holds the port)."""
    body = {
        "conn_type": "oauth_connector",
        "host": f"{api.base}/v1",
        "login": "client-1",
        "password": secret or api.secret,
        "extra": {"access_url": f"{api.base}/token", "client_auth": "body", "store_backend": "memory"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
    return conn_id


def trigger(conn_id: str, endpoint: str = "items", method: str = "GET", **kwargs: Any) -> OAuthConnectorTrigger:
    """A trigger as the triggerer rebuilds it: from its JSON-serialised arguments."""
    made = OAuthConnectorTrigger(
        oauth_conn_id=conn_id, method=method, request=PageRequest(endpoint).serialize(), **kwargs
    )
    _, arguments = made.serialize()
    return OAuthConnectorTrigger(**json.loads(json.dumps(arguments)))


async def first_event(made: OAuthConnectorTrigger) -> dict[str, Any]:
    async for event in made.run():
        return dict(event.payload)
    raise AssertionError("the trigger fired no event")


def bearer(seen: Seen) -> str:
    return seen.headers.get("authorization", "")


def test_many_triggers_wait_on_a_slow_api_together_with_one_token(api, monkeypatch):
    count = 40
    in_flight = 0
    all_waiting = asyncio.Event()

    async def slow(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        nonlocal in_flight
        in_flight += 1
        if in_flight == count:
            all_waiting.set()
        await asyncio.wait_for(all_waiting.wait(), 20)  # answers only once every call is in flight at once
        return _json(200, {"items": [1, 2]}, Link='<https://x/?page=2>; rel="next"', **{"X-Other": "dropped"})

    api.routes["/v1/items"] = slow

    async def go() -> list[dict[str, Any]]:
        server = await api.start()
        conn_id = define_connection(monkeypatch, api)
        async with server:
            return await asyncio.gather(*(first_event(trigger(conn_id)) for _ in range(count)))

    events = within(30, go())
    assert [e["status"] for e in events] == ["success"] * count
    assert api.tokens_issued == 1  # single flight across the triggers of one connection
    assert {bearer(s) for s in api.seen if s.path == "/v1/items"} == {"Bearer tok-1"}
    response = response_from_event(events[0]["response"])
    assert response.json() == {"items": [1, 2]}
    assert response.headers["Link"] == '<https://x/?page=2>; rel="next"'
    assert "X-Other" not in response.headers
    assert response.url == f"{api.base}/v1/items"
    assert response.request.method == "GET"


def test_a_401_renews_the_token_once_and_replays_once(api, monkeypatch):
    async def picky(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return _json(200, {"ok": True}) if bearer(seen) == "Bearer tok-2" else _json(401, {"error": "invalid_token"})

    api.routes["/v1/items"] = picky

    async def go() -> dict[str, Any]:
        async with await api.start():
            conn_id = define_connection(monkeypatch, api)
            return await first_event(trigger(conn_id, json={"a": 1}, method="PUT"))

    event = within(20, go())
    assert event["status"] == "success"
    calls = [s for s in api.seen if s.path == "/v1/items"]
    assert [bearer(s) for s in calls] == ["Bearer tok-1", "Bearer tok-2"]
    assert calls[0].body == calls[1].body == b'{"a":1}'


def test_query_parameters_are_encoded_as_the_hook_encodes_them(api, monkeypatch):
    async def echo(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return _json(200, {})

    api.routes["/v1/items"] = echo
    request = PageRequest("items", {"flag": True, "skip": None, "ids": [1, 2], "n": 3}).serialize()

    async def go() -> dict[str, Any]:
        async with await api.start():
            conn_id = define_connection(monkeypatch, api)
            return await first_event(OAuthConnectorTrigger(oauth_conn_id=conn_id, method="GET", request=request))

    event = within(20, go())
    assert event["status"] == "success", event
    import requests

    expected = requests.Request("GET", "http://h/", params={"flag": True, "skip": None, "ids": [1, 2], "n": 3})
    assert api.seen[-1].query == dict(parse_qsl(urlsplit(expected.prepare().url).query))


def test_an_api_error_comes_back_with_its_type(api, monkeypatch):
    async def go() -> dict[str, Any]:
        async with await api.start():
            conn_id = define_connection(monkeypatch, api)
            return await first_event(trigger(conn_id, "missing"))

    event = within(20, go())
    assert event["status"] == "error"
    assert event["error_type"] == "ApiResponseError"
    json.dumps(event)  # JSON, no pickles
    error = error_from_event(event)
    assert type(error) is ApiResponseError
    assert error.http_status == 404
    assert error.method == "GET"
    assert "no such route" in error.excerpt


def test_a_token_error_comes_back_with_its_type_and_no_secret(api, monkeypatch):
    async def go() -> dict[str, Any]:
        async with await api.start():
            conn_id = define_connection(monkeypatch, api, "bad_api", secret="wrong")
            return await first_event(trigger(conn_id))

    event = within(20, go())
    error = error_from_event(event)
    assert type(error) is InvalidClientError
    assert error.error == "invalid_client"
    assert error.http_status == 401
    assert "wrong" not in json.dumps(event)


def test_a_post_is_not_sent_twice_by_a_restarted_triggerer(api, monkeypatch):
    async def create(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return _json(201, {"id": 7})

    api.routes["/v1/things"] = create

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with await api.start():
            conn_id = define_connection(monkeypatch, api)
            made = trigger(conn_id, "things", "POST", json={"n": 1}, marker="request:d:r:t:-1:1:1")
            return await first_event(made), await first_event(made)

    first, again = within(20, go())
    assert first["status"] == "success"
    assert again["error_type"] == "AlreadySentError"
    assert type(error_from_event(again)) is AlreadySentError
    assert sum(1 for s in api.seen if s.path == "/v1/things") == 1


def test_an_unreachable_api_is_reported_with_its_type(monkeypatch, api):
    async def go() -> dict[str, Any]:
        server = await api.start()
        conn_id = define_connection(monkeypatch, api)
        async with server:
            await first_event(trigger(conn_id, "x"))  # a token first, while the server is up
        server.close()
        api.drop_connections()
        await server.wait_closed()
        return await first_event(trigger(conn_id, "x", retry={"max_attempts": 2, "backoff_initial": 0}))

    error = error_from_event(within(20, go()))
    assert type(error) is EndpointUnreachableError
    assert error.attempts == 2


def test_unknown_error_types_fall_back_to_deferred_call_failed():
    event = error_to_event(ValueError("boom ?access_token=abc"))
    assert "abc" not in json.dumps(event)
    error = error_from_event(event)
    assert type(error) is DeferredCallFailed
    assert str(error).startswith("ValueError: boom")
    forged = {"status": "error", "error_type": "X", "message": "m", "error": {"class": "os.system", "args": ["ls"]}}
    assert type(error_from_event(forged)) is DeferredCallFailed  # only the provider's own classes are rebuilt


def test_placeholders_are_filled_without_blocking_the_loop(api, monkeypatch):
    import threading

    from airflow_oauth_connector.hooks import OAuthConnectorHook
    from airflow_oauth_connector.token import Token
    from airflow_oauth_connector.token_manager import TokenManager

    async def tenant_items(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return _json(200, {"tenant": seen.headers.get("x-tenant")})

    api.routes["/t-9/items"] = tenant_items
    on_loop: list[bool] = []
    original = TokenManager.get_token

    def recording(self: TokenManager) -> Token:
        on_loop.append(threading.current_thread() is threading.main_thread())
        return original(self)

    monkeypatch.setattr(TokenManager, "get_token", recording)

    async def go() -> dict[str, Any]:
        async with await api.start():
            body = {
                "conn_type": "oauth_connector",
                "host": f"{api.base}/{{tenant}}",
                "login": "client-1",
                "password": api.secret,
                "extra": {
                    "access_url": f"{api.base}/token",
                    "client_auth": "body",
                    "store_backend": "memory",
                    "api_headers": {"X-Tenant": "{tenant}"},
                },
            }
            monkeypatch.setenv("AIRFLOW_CONN_TENANT_API", json.dumps(body))
            key = await asyncio.to_thread(lambda: OAuthConnectorHook("tenant_api").profile.cache_key)
            token = Token(access_token="tok-seeded", expires_at=None, captured={"tenant": "t-9"})
            MemoryTokenStore.shared().save(key, token)  # as saved at authorization, with its captured values
            return await first_event(trigger("tenant_api"))

    event = within(20, go())
    assert event["status"] == "success", event
    assert response_from_event(event["response"]).json() == {"tenant": "t-9"}
    assert bearer(api.seen[-1]) == "Bearer tok-seeded"
    assert on_loop == [False]  # the one store read ran in a worker thread, never on the event loop


def test_a_token_error_in_the_triggerer_is_recorded_as_the_deferred_tasks(api, monkeypatch):
    from types import SimpleNamespace

    from airflow_oauth_connector.hooks import OAuthConnectorHook
    from airflow_oauth_connector.status import TokenStatus

    for name in ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_TASK_ID", "AIRFLOW_CTX_TRY_NUMBER"):
        monkeypatch.delenv(name, raising=False)  # the triggerer's process is no task's

    async def go() -> tuple[str, dict[str, Any]]:
        async with await api.start():
            conn_id = define_connection(monkeypatch, api, "bad_deferred", secret="wrong")
            made = trigger(conn_id)
            made.task_instance = SimpleNamespace(dag_id="sync", task_id="pull", try_number=2, map_index=-1)
            return conn_id, await first_event(made)

    conn_id, event = within(20, go())
    assert type(error_from_event(event)) is InvalidClientError
    tokens = OAuthConnectorHook(conn_id).tokens
    status = tokens.store.load_status(tokens.key)
    assert isinstance(status, TokenStatus)
    assert status.failure is not None
    assert (status.failure.kind, status.failure.where) == ("invalid_client", "sync/pull/try 2")
