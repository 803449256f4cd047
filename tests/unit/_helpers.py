"""Shared builders for the unit tests (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from airflow_oauth_connector.profile import OAuthProfile

SECRET = "s3cr3t-Sentinel-7Qx"
REFRESH = "rt-Sentinel-9Zk"
TOKEN_URL = "https://auth.example.com/oauth/token"
AUTHORIZE_URL = "https://auth.example.com/oauth/authorize"
API_URL = "https://api.example.com/v1"


def make_profile(
    extra: Mapping[str, Any] | None = None,
    *,
    conn_id: str = "oauth_test",
    host: str | None = API_URL,
    port: int | None = None,
    login: str | None = "client-id",
    password: str | None = SECRET,
    with_access_url: bool = True,
) -> OAuthProfile:
    fields: dict[str, Any] = {"access_url": TOKEN_URL} if with_access_url else {}
    fields.update(extra or {})
    return OAuthProfile.from_fields(conn_id, host=host, port=port, login=login, password=password, extra=fields)


def make_response(
    status: int = 200,
    body: bytes | str = b"",
    headers: Mapping[str, str] | None = None,
    url: str = TOKEN_URL,
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.headers.update(headers or {})
    response.url = url
    return response
