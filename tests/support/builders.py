"""Builders for test objects (profiles, token clients, tokens, responses, connections, a settable clock); no I/O."""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.structures import CaseInsensitiveDict

from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_client import TokenClient

if TYPE_CHECKING:
    import pytest
    from requests.adapters import BaseAdapter

API_URL = "https://api.example.com/v1"
TOKEN_URL = "https://auth.example.com/oauth/token"
AUTHORIZE_URL = "https://auth.example.com/oauth/authorize"
CONN_ID = "my_api"
CLIENT_ID = "client-1"
CLIENT_SECRET = "client-secret-Sentinel-7Qx0123"
ACCESS = "access-token-SECRET-0123456789"
REFRESH = "refresh-token-SECRET-9876543210"

_REASONS = {200: "OK", 401: "Unauthorized", 503: "Service Unavailable"}


def make_profile(
    extra: Mapping[str, Any] | None = None,
    *,
    conn_id: str = CONN_ID,
    host: str | None = API_URL,
    port: int | None = None,
    login: str | None = CLIENT_ID,
    password: str | None = CLIENT_SECRET,
    with_access_url: bool = True,
    **fields: Any,
) -> OAuthProfile:
    """A profile from connection fields; ``extra`` (a mapping, or keywords) lands on top of the token URL."""
    merged: dict[str, Any] = {"access_url": TOKEN_URL} if with_access_url else {}
    merged.update(extra or {})
    merged.update(fields)
    return OAuthProfile.from_fields(conn_id, host=host, port=port, login=login, password=password, extra=merged)


def make_client(profile: OAuthProfile, transport: BaseAdapter, **kwargs: Any) -> TokenClient:
    """A token client whose session sends through ``transport`` and whose retries do not sleep."""
    session = requests.Session()
    session.mount("https://", transport)
    session.mount("http://", transport)
    kwargs.setdefault("sleep", lambda _s: None)
    return TokenClient(profile, session=session, **kwargs)


def make_token(
    access: str = ACCESS,
    *,
    refresh: str | None = REFRESH,
    lifetime: float = 3600.0,
    scope: str | None = "read",
    now: float | None = None,
) -> Token:
    """A token issued ``now`` (default: the wall clock) that expires ``lifetime`` seconds later."""
    issued = time.time() if now is None else now
    return Token(
        access_token=access, refresh_token=refresh, expires_at=issued + lifetime, scope=scope, issued_at=issued
    )


def make_response(
    status: int = 200,
    body: bytes | str | Mapping[str, Any] | list[Any] = b"",
    headers: Mapping[str, str] | None = None,
    url: str = TOKEN_URL,
    request: requests.PreparedRequest | None = None,
) -> requests.Response:
    """A complete ``requests.Response``; a dict or list body is sent as JSON with its content type."""
    all_headers = dict(headers or {})
    if isinstance(body, (Mapping, list)):
        body = jsonlib.dumps(body)
        all_headers = {"Content-Type": "application/json", **all_headers}
    response = requests.Response()
    response.status_code = status
    response.reason = _REASONS.get(status, "")
    response._content = body.encode() if isinstance(body, str) else body
    response._content_consumed = True  # type: ignore[attr-defined]
    response.headers = CaseInsensitiveDict(all_headers)
    response.url = str(request.url) if request is not None else url
    if request is not None:
        response.request = request
    return response


def connection_json(*, host: str = API_URL, login: str = CLIENT_ID, password: str = CLIENT_SECRET, **extra: Any) -> str:
    """An ``oauth_connector`` connection as the JSON Airflow reads from ``AIRFLOW_CONN_<ID>``."""
    fields = {"access_url": TOKEN_URL, **extra}
    body = {"conn_type": "oauth_connector", "host": host, "login": login, "password": password, "extra": fields}
    return jsonlib.dumps(body)


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = CONN_ID, **extra: Any) -> str:
    """Define ``conn_id`` as an environment connection for the test (see :func:`connection_json`)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(**extra))
    return conn_id


class Clock:
    """A clock the test moves by hand: ``clock()`` is ``clock.now``; ``clock.sleep(s)`` records and advances."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_jwt(**claims: object) -> str:
    """A compact JWS (HS256, subject "w" unless given) such as a workload's token file holds."""
    from joserfc import jwt
    from joserfc.jwk import OctKey

    return jwt.encode({"alg": "HS256"}, {"sub": "w", **claims}, OctKey.import_key("k" * 32))


def rsa_private_pem(passphrase: str | None = None, *, traditional: bool = False) -> str:
    """A new 2048-bit RSA private key as PEM: PKCS#8 (or traditional), encrypted with ``passphrase`` if given."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


def box_app_config(
    private_key: str,
    *,
    passphrase: str | None = None,
    client_id: str = "box-client-id",
    client_secret: str = "box-client-secret-Sentinel",
    public_key_id: str = "kid-box-1",
    enterprise_id: str = "1234567",
) -> str:
    """Box's JWT app config JSON as its developer console downloads it (guides/authentication/jwt/without-sdk)."""
    app_auth: dict[str, Any] = {"publicKeyID": public_key_id, "privateKey": private_key}
    if passphrase is not None:
        app_auth["passphrase"] = passphrase
    return jsonlib.dumps(
        {
            "boxAppSettings": {"clientID": client_id, "clientSecret": client_secret, "appAuth": app_auth},
            "enterpriseID": enterprise_id,
        }
    )


class Tokens:
    """A token source that hands out tok-1, tok-2, ... and records rejections (sync and async faces)."""

    def __init__(self) -> None:
        self.n = 1
        self.rejected: list[str] = []

    def get_token(self) -> Token:
        return Token(access_token=f"tok-{self.n}")

    def refresh_after_rejection(self, rejected: Token) -> Token:
        self.rejected.append(rejected.access_token)
        self.n += 1
        return self.get_token()


class AsyncFace:
    """The async face of a :class:`Tokens` (for the httpx adapter)."""

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    async def get_token(self) -> Token:
        return self.tokens.get_token()

    async def refresh_after_rejection(self, rejected: Token) -> Token:
        return self.tokens.refresh_after_rejection(rejected)
