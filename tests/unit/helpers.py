"""Profiles and wired-up objects for unit tests."""

from __future__ import annotations

from typing import Any

import requests

from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token_client import TokenClient
from tests.unit.fakes import FakeTransport

API = "https://api.example.com/v1"
TOKEN_URL = "https://auth.example.com/oauth/token"
AUTHORIZE_URL = "https://auth.example.com/oauth/authorize"
CLIENT_SECRET = "client-secret-0123456789"


def make_profile(*, host: str = API, secret: str | None = CLIENT_SECRET, **extra: Any) -> OAuthProfile:
    fields: dict[str, Any] = {"access_url": TOKEN_URL}
    fields.update(extra)
    return OAuthProfile.from_fields("my_api", host=host, login="client-1", password=secret, extra=fields)


def make_client(profile: OAuthProfile, transport: FakeTransport, **kwargs: Any) -> TokenClient:
    session = requests.Session()
    session.mount("https://", transport)
    session.mount("http://", transport)
    kwargs.setdefault("sleep", lambda _s: None)
    return TokenClient(profile, session=session, **kwargs)
