"""DPoP through the hook (the request flow): proofs on every API call, the API's nonce retried once, a nonce
loop refused at once, and one DPoP-bound token shared by two processes through the file store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from airflow_oauth_connector.exceptions import DPoPError
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.store import MemoryTokenStore
from tests.support.connections import connection_env
from tests.support.oidc import OidcServer, private_pem
from tests.support.store_worker import run_launcher

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def dpop_connection(server: OidcServer, **extra: object) -> dict[str, object]:
    c = server.client("basic")
    return {
        "conn_type": "oauth_connector",
        "host": server.api,
        "login": c["client_id"],
        "password": c["client_secret"],
        "extra": {"issuer_url": server.issuer, "scope": "api:read", "dpop": True, **extra},
    }


@pytest.fixture
def dpop_conn(monkeypatch: pytest.MonkeyPatch, oidc: OidcServer) -> str:
    for name, value in connection_env("oidc_dpop", dpop_connection(oidc)).items():
        monkeypatch.setenv(name, value)
    return "oidc_dpop"


def accepted(server: OidcServer, path: str = "/items") -> int:
    return int(server.stats()["api"].get(f"accepted DPoP GET {path}", 0))


def nonce_challenges(server: OidcServer) -> int:
    return int(server.stats()["api"].get("rejected use_dpop_nonce: a DPoP nonce is required", 0))


def test_every_call_carries_a_fresh_proof_and_one_token_serves_them(oidc: OidcServer, dpop_conn: str) -> None:
    hook = OAuthConnectorHook(dpop_conn, token_store=MemoryTokenStore())
    for _ in range(5):
        response = hook.run("items")
        assert response.status_code == 200
        assert response.json()["scheme"] == "DPoP"
    assert accepted(oidc) == 5  # the API refuses a replayed jti: each call had its own proof
    assert nonce_challenges(oidc) == 1  # the first call learnt the nonce; the others carried it
    assert oidc.stats()["token"]["cc-basic client_credentials ok"] == 1


def test_async_calls_carry_a_fresh_proof_each_and_learn_the_nonce_once(oidc: OidcServer, dpop_conn: str) -> None:
    """The trigger's path (``hook.arun``, httpx): the same proofs, nonce handling and one token."""
    hook = OAuthConnectorHook(dpop_conn, token_store=MemoryTokenStore())

    async def calls() -> list[httpx.Response]:
        first = await hook.arun("items")  # learns the API's nonce (one challenge, one replay)
        return [first, *await asyncio.gather(*(hook.arun("items") for _ in range(4)))]

    responses = asyncio.run(asyncio.wait_for(calls(), 60))
    assert [r.status_code for r in responses] == [200] * 5
    assert {r.json()["scheme"] for r in responses} == {"DPoP"}
    assert accepted(oidc) == 5  # each call (concurrent ones too) had its own proof: the API refuses a replayed jti
    assert nonce_challenges(oidc) == 1
    assert oidc.stats()["token"]["cc-basic client_credentials ok"] == 1


def test_a_rotated_api_nonce_costs_one_replay_and_no_token(oidc: OidcServer, dpop_conn: str) -> None:
    hook = OAuthConnectorHook(dpop_conn, token_store=MemoryTokenStore())
    assert hook.run("items").status_code == 200
    oidc.rotate_api_nonce()
    assert hook.run("items").status_code == 200
    assert nonce_challenges(oidc) == 2
    assert oidc.stats()["token"]["cc-basic client_credentials ok"] == 1


def test_an_api_that_always_wants_a_new_nonce_fails_at_once(oidc: OidcServer, dpop_conn: str) -> None:
    hook = OAuthConnectorHook(dpop_conn, token_store=MemoryTokenStore())
    with pytest.raises(DPoPError, match="'dpop'"):
        hook.run("always-new-nonce")
    assert oidc.stats()["token"]["cc-basic client_credentials ok"] == 1  # no token renewal for a nonce


def test_private_key_jwt_with_dpop_through_the_hook(monkeypatch: pytest.MonkeyPatch, oidc: OidcServer) -> None:
    body = dpop_connection(oidc, client_auth="private_key_jwt")
    body["login"] = oidc.client("pkjwt_rs")["client_id"]
    body["password"] = private_pem(oidc.keys["pkjwt_rs"])
    for name, value in connection_env("oidc_dpop_pkjwt", body).items():
        monkeypatch.setenv(name, value)
    assert OAuthConnectorHook("oidc_dpop_pkjwt", token_store=MemoryTokenStore()).run("items").status_code == 200
    stats = oidc.stats()["token"]
    assert stats["cc-pkjwt-rs client_credentials ok"] == 1
    assert stats["cc-pkjwt-rs client_credentials use_dpop_nonce"] == 1


def test_two_processes_share_one_dpop_bound_token_through_the_file_store(oidc: OidcServer, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    # With Airflow's Fernet key the store encrypts the record: token and DPoP key alike.
    env = {
        **connection_env("oidc_dpop_shared", dpop_connection(oidc)),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }
    store = {"backend": "file", "directory": str(tmp_path / "tokens")}
    results = run_launcher(
        {"mode": "calls", "conn_id": "oidc_dpop_shared", "store": store, "processes": 2, "count": 1}, env
    )
    assert [r["errors"] for r in results] == [[], []]
    assert [r["statuses"] for r in results] == [[200], [200]]
    token_stats = oidc.stats()["token"]
    assert token_stats["cc-basic client_credentials ok"] == 1  # one token for both processes
    assert token_stats["requests"] == 2  # that token's request, after the token endpoint's nonce challenge
    assert accepted(oidc, "/whoami") == 2  # both calls accepted, proofs signed by the one stored key
    stored = list((tmp_path / "tokens").iterdir())
    assert stored
    records = [path.read_bytes() for path in stored if path.is_file()]
    assert records
    assert all(b'"d"' not in record and b"dpop_jwk" not in record for record in records)  # encrypted


def test_a_public_clients_refresh_proves_the_key_its_refresh_token_is_bound_to(
    monkeypatch: pytest.MonkeyPatch, oidc: OidcServer
) -> None:
    """The token manager refreshes an expired stored token with the key of its chain, as RFC 9449 section 5 asks
    of a public client: oidc-provider refuses the same refresh token proved with any other key."""
    import dataclasses
    import time

    from airflow_oauth_connector.exceptions import InvalidGrantError
    from airflow_oauth_connector.grants import build_authorization_request
    from airflow_oauth_connector.token import refresh_origin
    from airflow_oauth_connector.token_client import TokenClient
    from tests.support.oidc import REDIRECT_URI

    body = {
        "conn_type": "oauth_connector",
        "host": oidc.api,
        "login": oidc.client("web_public")["client_id"],
        "extra": {
            "issuer_url": oidc.issuer,
            "grant_type": "authorization_code",
            "client_auth": "none",
            "scope": "openid offline_access api:read",
            "dpop": True,
            "redirect_uri": REDIRECT_URI,
        },
    }
    for name, value in connection_env("oidc_dpop_public", body).items():
        monkeypatch.setenv(name, value)
    hook = OAuthConnectorHook("oidc_dpop_public", token_store=MemoryTokenStore())
    client = TokenClient(hook.profile)
    request = build_authorization_request(hook.profile, client.endpoints.authorize_url or "")
    landed = oidc.follow_authorization(request.url)
    token = client.exchange_code(
        landed["code"], code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI, nonce=request.nonce
    )
    assert token.refresh_token
    assert token.dpop_jwk

    # The server binds the refresh token: a refresh proved with a fresh key is refused (and consumes nothing).
    with pytest.raises(InvalidGrantError):
        client.refresh(token.refresh_token)

    # Authorized as the Authorize flow leaves it: the refresh token on the connection, the token (with its key) in
    # the store; the access token has expired.
    body["extra"] = {**body["extra"], "refresh_token": token.refresh_token}  # type: ignore[dict-item]
    for name, value in connection_env("oidc_dpop_public", body).items():
        monkeypatch.setenv(name, value)
    store = MemoryTokenStore()
    hook = OAuthConnectorHook("oidc_dpop_public", token_store=store)
    expired = dataclasses.replace(token, expires_at=time.time() - 60).with_origin(refresh_origin(token.refresh_token))
    store.save(hook.profile.cache_key, expired)

    response = hook.run("items")
    assert response.status_code == 200
    assert response.json()["scheme"] == "DPoP"
    renewed = store.load(hook.profile.cache_key)
    assert renewed is not None
    assert renewed.access_token != token.access_token
    assert renewed.dpop_jwk == token.dpop_jwk  # the chain keeps its key for the next refresh too
    token_stats = oidc.stats()["token"]
    assert token_stats["web-public refresh_token ok"] == 1
