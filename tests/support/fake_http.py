"""A scriptable requests transport (no sockets) that routes requests to Python handlers, and a fake token endpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter

from tests.support.builders import make_response

if TYPE_CHECKING:
    import pytest

Reply = tuple[int, dict[str, str], bytes | str | dict[str, Any] | list[Any]]
Handler = Callable[[requests.PreparedRequest], Reply]


@dataclass
class FakeTransport(BaseAdapter):
    """Mount on a Session; each request goes to the first handler whose (method, URL prefix) matches."""

    routes: list[tuple[str, str, Handler]] = field(default_factory=list)
    requests: list[requests.PreparedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def route(self, method: str, url_prefix: str, handler: Handler) -> None:
        self.routes.append((method.upper(), url_prefix, handler))

    def calls(self, url_prefix: str) -> list[requests.PreparedRequest]:
        return [r for r in self.requests if str(r.url).startswith(url_prefix)]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.requests.append(request)
        for method, prefix, handler in self.routes:
            if method in ("*", request.method) and str(request.url).startswith(prefix):
                status, headers, body = handler(request)
                return self.build_response(request, status, headers, body)
        return self.build_response(request, 404, {}, {"error": "no route"})

    def build_response(
        self, request: requests.PreparedRequest, status: int, headers: dict[str, str], body: Any
    ) -> requests.Response:  # type: ignore[override]
        response = make_response(status, body, headers, request=request)
        response.connection = self
        return response

    def close(self) -> None:
        pass


def form(request: requests.PreparedRequest) -> dict[str, str]:
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return dict(parse_qsl(body))


def query(request: requests.PreparedRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(str(request.url)).query))


class TokenServer:
    """Hands out numbered tokens: access-1, access-2, ... and counts requests by grant type."""

    def __init__(self, expires_in: int | str | None = 3600, rotate: bool = True) -> None:
        self.expires_in = expires_in
        self.rotate = rotate
        self.issued = 0
        self.grants: list[str] = []
        self.valid_refresh: set[str] = {"refresh-0"}
        self.revoked_access: set[str] = set()

    def __call__(self, request: requests.PreparedRequest) -> Reply:
        params = form(request)
        grant = params.get("grant_type", "")
        self.grants.append(grant)
        if grant == "refresh_token":
            if params.get("refresh_token") not in self.valid_refresh:
                return 400, {}, {"error": "invalid_grant", "error_description": "refresh token is invalid"}
            if self.rotate:
                self.valid_refresh.discard(params["refresh_token"])
        self.issued += 1
        payload: dict[str, Any] = {"access_token": f"access-{self.issued}", "token_type": "bearer"}
        if self.expires_in is not None:
            payload["expires_in"] = self.expires_in
        if grant != "client_credentials":
            new_refresh = f"refresh-{self.issued}"
            self.valid_refresh.add(new_refresh)
            payload["refresh_token"] = new_refresh
        return 200, {}, payload


def bearer(request: requests.PreparedRequest) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def intercept(monkeypatch: pytest.MonkeyPatch, transport: FakeTransport) -> FakeTransport:
    """Send every ``requests.Session``'s requests through ``transport`` for this test (hooks build their own)."""
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: transport)
    return transport
