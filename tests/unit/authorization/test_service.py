"""The authorization service: start (which connections, which URL) and finish (exchange the code, save, status)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_oauth_connector import authorization as authz
from airflow_oauth_connector.authorization import service
from airflow_oauth_connector.authorization.callback import Callback
from airflow_oauth_connector.exceptions import AuthorizationError, CaptureError
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token import Token
from tests.support.authorization import REFRESH, SECRET, add_connection, authorized_token, db_extra, extra_for

REDIRECT = "http://127.0.0.1:1/callback"


class FakeTokenClient:
    """Records the code exchanges it is asked for and answers each with an authorized token."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.session = None

    def exchange_code(
        self, code: str, *, code_verifier: str | None, redirect_uri: str | None, nonce: str | None = None
    ) -> Token:
        self.calls.append({"code": code, "code_verifier": code_verifier, "redirect_uri": redirect_uri, "nonce": nonce})
        return authorized_token()


def _profile(**extra: Any) -> OAuthProfile:
    return OAuthProfile.from_fields(
        "svc", host="https://api.example.com", login="client-1", password=SECRET, extra=extra_for(**extra)
    )


def test_a_client_credentials_connection_is_not_authorized_by_a_person() -> None:
    profile = _profile(grant="client_credentials")
    with pytest.raises(AuthorizationError, match="needs no authorization by a person"):
        service.start(profile, REDIRECT)


def test_start_builds_the_authorization_url_with_pkce_and_the_given_state() -> None:
    request = service.start(_profile(), REDIRECT, state="the-state")
    parts = urlsplit(request.url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.example.com/oauth/authorize"
    assert query["state"] == "the-state"
    assert query["redirect_uri"] == REDIRECT
    assert query["code_challenge_method"] == "S256"
    assert request.code_verifier
    assert request.code_verifier not in request.url


def test_start_when_the_issuers_metadata_names_no_authorization_endpoint() -> None:
    profile = _profile()
    discovered = SimpleNamespace(profile=profile, endpoints=SimpleNamespace(authorize_url=None))
    with pytest.raises(AuthorizationError, match="field 'authorize_url'"):
        service.start(profile, REDIRECT, client=discovered)  # type: ignore[arg-type]


def test_a_redirect_without_a_captured_value_is_refused_before_the_code_is_spent() -> None:
    client = FakeTokenClient()
    profile = _profile(capture_callback=["realmId"])
    with pytest.raises(CaptureError, match="realmId"):
        service.exchange(profile, Callback(code="c", params={"code": "c"}), "v", REDIRECT, client=client)  # type: ignore[arg-type]
    assert client.calls == []
    token = service.exchange(
        profile,
        Callback(code="c", params={"code": "c", "realmId": "4620816365"}),
        "v",
        REDIRECT,
        client=client,  # type: ignore[arg-type]
    )
    assert token.captured == {"realmId": "4620816365"}
    assert client.calls == [{"code": "c", "code_verifier": "v", "redirect_uri": REDIRECT, "nonce": None}]


def test_exchange_and_save_uses_client_and_returns_new_status(db: Any) -> None:
    conn_id = add_connection()
    profile = authz.load_profile(conn_id)
    client = FakeTokenClient()
    status = authz.exchange_and_save(profile, "the-code", "the-verifier", REDIRECT, client=client, nonce="n-1")  # type: ignore[arg-type]
    assert client.calls == [
        {"code": "the-code", "code_verifier": "the-verifier", "redirect_uri": REDIRECT, "nonce": "n-1"}
    ]
    assert status.state == "authorized"
    assert db_extra(conn_id)["refresh_token"] == REFRESH
