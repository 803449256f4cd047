"""The hook and token client against a real OAuth 2.0 server (django-oauth-toolkit) on loopback."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_oauth_connector.exceptions import InvalidClientError, InvalidGrantError
from airflow_oauth_connector.grants import build_authorization_request
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.store import MemoryTokenStore
from airflow_oauth_connector.token_client import TokenClient
from tests.support.connections import connection, connection_env

pytestmark = pytest.mark.integration


@pytest.fixture
def make_conn(monkeypatch, auth_server):
    """Define an oauth_connector connection as AIRFLOW_CONN_<ID> JSON, as a user would."""

    def make(conn_id: str, client: str = "cc", **extra) -> str:
        for name, value in connection_env(conn_id, connection(auth_server, client, **extra)).items():
            monkeypatch.setenv(name, value)
        return conn_id

    return make


def hook_for(conn_id: str) -> OAuthConnectorHook:
    return OAuthConnectorHook(conn_id, token_store=MemoryTokenStore())


def token_requests(server) -> int:
    return int(server.stats()["token_requests"]["total"])


def authorize(server, profile: OAuthProfile, client: str = "ac") -> tuple[str, str | None, str]:
    """Run the authorization request built by the package through the real server's login and consent."""
    redirect_uri = server.client(client).redirect_uris[0]
    request = build_authorization_request(profile, server.authorize_url, redirect_uri=redirect_uri)
    landed = server.authorize_url_flow(request.url)
    query = parse_qs(urlsplit(landed).query)
    assert query["state"] == [request.state]
    return query["code"][0], request.code_verifier, redirect_uri


def test_client_credentials_ten_runs_one_token_request(make_conn, fresh_stats):
    hook = hook_for(make_conn("cc_api"))
    for _ in range(10):
        body = hook.run("whoami").json()
    assert body["client_id"] == fresh_stats.client("cc").client_id
    assert token_requests(fresh_stats) == 1
    assert fresh_stats.stats()["token_requests"]["by_auth_method"] == {"basic": 1}


def test_client_credentials_in_body_with_token_parameters(make_conn, fresh_stats):
    params = {"query": {"audience": "demo-api"}, "headers": {"X-Test-Tenant": "t1"}, "body": {"x_test_body": "b1"}}
    hook = hook_for(make_conn("cc_body", client_auth="body", access_params=json.dumps(params)))
    assert hook.run("whoami").status_code == 200
    (recorded,) = fresh_stats.token_requests()
    assert recorded["auth_method"] == "body"
    text = json.dumps(recorded)
    assert "demo-api" in text
    assert "t1" in text
    assert "b1" in text
    assert fresh_stats.client("cc").client_secret not in text


def test_wrong_secret_is_invalid_client_on_first_attempt(make_conn, fresh_stats):
    hook = hook_for(make_conn("cc_wrong", secret="not-the-secret-at-all"))
    with pytest.raises(InvalidClientError) as info:
        hook.get_access_token()
    assert "not-the-secret-at-all" not in str(info.value)
    assert token_requests(fresh_stats) == 1


def test_token_sent_as_query_parameter(make_conn, fresh_stats):
    hook = hook_for(make_conn("cc_query", query_param="access_token"))
    response = hook.run("whoami")
    assert response.status_code == 200
    assert "Authorization" not in response.request.headers


def test_discovery_from_issuer(make_conn, auth_server):
    hook = hook_for(make_conn("cc_discovery", access_url="", issuer_url=auth_server.issuer))
    assert hook.run("whoami").status_code == 200
    assert hook.token_client.endpoints.token_url == auth_server.token_url
    assert hook.token_client.endpoints.authorize_url == auth_server.authorize_url


def test_proactive_refresh_before_expiry(monkeypatch, tmp_path):
    """4-second tokens: the default leeway (60 s) is capped at half the lifetime, so the token is used for 2 s,
    then renewed before it expires: no request is ever rejected."""
    from tests.support.authserver.runner import start_auth_server

    with start_auth_server(tmp_path / "short", access_token_lifetime=4) as server:
        monkeypatch.setenv("AIRFLOW_CONN_CC_SHORT", json.dumps(connection(server, scope="read")))
        hook = hook_for("cc_short")
        deadline = time.monotonic() + 6.5
        calls = 0
        while time.monotonic() < deadline:
            hook.run("whoami")
            calls += 1
            time.sleep(0.1)
        stats = server.stats()
    assert stats["api_requests"]["unauthorized"] == 0
    assert 3 <= stats["token_requests"]["total"] <= 5  # one per ~2 s, not one per call
    assert calls > 30


def test_revoked_token_gets_401_then_one_refresh_and_replay(make_conn, fresh_stats):
    hook = hook_for(make_conn("cc_revoke"))
    hook.run("whoami")
    c = fresh_stats.client("cc")
    revoked = requests.post(
        fresh_stats.base_url + "/o/revoke_token/",
        data={"token": hook.get_access_token()},
        auth=(c.client_id, c.client_secret),
        timeout=10,
    )
    assert revoked.status_code == 200
    response = hook.run("echo", method="POST", json={"n": 1})
    assert response.status_code == 200
    assert response.json()["json"] == {"n": 1}
    assert [r.status_code for r in response.history] == [401]
    assert token_requests(fresh_stats) == 2


def test_authorization_code_pkce_exchange_then_refresh_with_rotation(make_conn, auth_server, fresh_stats):
    conn_id = make_conn("ac_api", "ac", grant_type="authorization_code", authorize_url=auth_server.authorize_url)
    profile = hook_for(conn_id).profile
    code, verifier, redirect_uri = authorize(auth_server, profile)
    client = TokenClient(profile)
    first = client.exchange_code(code, code_verifier=verifier, redirect_uri=redirect_uri)
    assert first.refresh_token

    # the code is single-use
    with pytest.raises(InvalidGrantError):
        client.exchange_code(code, code_verifier=verifier, redirect_uri=redirect_uri)

    # a task uses the stored refresh token transparently; the server rotates it
    conn_id = make_conn(
        "ac_task",
        "ac",
        grant_type="authorization_code",
        authorize_url=auth_server.authorize_url,
        refresh_token=first.refresh_token,
    )
    hook = hook_for(conn_id)
    assert hook.run("whoami").json()["user"]
    rotated = hook.tokens.current()
    assert rotated is not None
    assert rotated.refresh_token
    assert rotated.refresh_token != first.refresh_token

    # the old refresh token is dead: a typed, actionable error
    with pytest.raises(InvalidGrantError, match="authorize the connection again"):
        client.refresh(first.refresh_token)
    by_grant = fresh_stats.stats()["token_requests"]["by_grant_type"]
    assert by_grant["authorization_code"] == 2
    assert by_grant["refresh_token"] == 2


def test_public_client_pkce_without_secret(make_conn, auth_server):
    conn_id = make_conn(
        "public_api",
        "public",
        secret=None,
        client_auth="none",
        grant_type="authorization_code",
        authorize_url=auth_server.authorize_url,
    )
    profile = hook_for(conn_id).profile
    code, verifier, redirect_uri = authorize(auth_server, profile, "public")
    assert verifier
    token = TokenClient(profile).exchange_code(code, code_verifier=verifier, redirect_uri=redirect_uri)
    assert token.refresh_token


def test_test_connection_against_the_real_server(make_conn):
    ok, message = hook_for(make_conn("cc_test")).test_connection()
    assert ok, message
    assert "client_credentials" in message
