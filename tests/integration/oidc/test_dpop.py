"""DPoP (RFC 9449) against oidc-provider (nonces required) and its DPoP-validating API: DPoP-bound tokens, the
token endpoint's use_dpop_nonce retried once with a fresh proof and a fresh client assertion, the key stored
with the token, and the API's checks (cnf.jkt, htm/htu, ath, jti replay, Bearer refused, nonce)."""

from __future__ import annotations

import pytest
import requests

from airflow_oauth_connector.dpop import DPoPKey
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token import Token
from airflow_oauth_connector.token_client import TokenClient
from tests.support.oidc import OidcServer, private_pem

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def dpop_profile(server: OidcServer, client: str = "basic", **extra: object) -> OAuthProfile:
    c = server.client(client)
    return OAuthProfile.from_fields(
        f"dpop_{client}",
        host=server.api,
        login=c["client_id"],
        password=extra.pop("password", c.get("client_secret")),  # type: ignore[arg-type]
        extra={"issuer_url": server.issuer, "scope": "api:read", "dpop": True, **extra},
    )


def api_get(server: OidcServer, token: Token, *, path: str = "/items", nonce: str | None = None, **over: str):
    key = DPoPKey.from_jwk(token.dpop_jwk or {})
    proof = over.pop("proof", None) or key.proof(
        "GET", f"{server.api}{path}", access_token=token.access_token, nonce=nonce
    )
    headers = {"Authorization": f"{over.pop('scheme', 'DPoP')} {token.access_token}", "DPoP": proof}
    return requests.get(f"{server.api}{path}", headers=headers, timeout=10), proof


def test_token_is_dpop_bound_after_one_nonce_challenge_and_one_token(oidc: OidcServer) -> None:
    client = TokenClient(dpop_profile(oidc))
    token = client.client_credentials()
    assert token.token_type == "DPoP"
    assert token.dpop_jwk is not None
    assert "d" in token.dpop_jwk  # the private half travels with the token (the store encrypts it)
    assert "dpop_jwk" not in repr(token)
    stats = oidc.stats()["token"]
    assert stats["requests"] == 2  # the nonce challenge, then the token
    assert stats["cc-basic client_credentials ok"] == 1
    assert stats["cc-basic client_credentials use_dpop_nonce"] == 1
    client.client_credentials()  # the nonce is remembered: no second challenge
    assert oidc.stats()["token"]["requests"] == 3


def test_private_key_jwt_nonce_retry_signs_a_new_assertion(oidc: OidcServer) -> None:
    # oidc-provider refuses a client assertion whose jti it has seen: the retry only passes with a new one.
    p = dpop_profile(oidc, "pkjwt_rs", password=private_pem(oidc.keys["pkjwt_rs"]), client_auth="private_key_jwt")
    token = TokenClient(p).client_credentials()
    assert token.token_type == "DPoP"
    stats = oidc.stats()["token"]
    assert stats["cc-pkjwt-rs client_credentials ok"] == 1
    assert stats["requests"] == 2


def test_api_accepts_a_proper_proof_and_refuses_every_broken_one(oidc: OidcServer) -> None:
    token = TokenClient(dpop_profile(oidc)).client_credentials()
    first, _ = api_get(oidc, token)
    assert first.status_code == 401
    assert 'error="use_dpop_nonce"' in first.headers["WWW-Authenticate"]
    nonce = first.headers["DPoP-Nonce"]
    ok, proof = api_get(oidc, token, nonce=nonce)
    assert ok.status_code == 200, ok.text
    assert ok.json()["scheme"] == "DPoP"

    def refused(response: requests.Response) -> str:
        assert response.status_code == 401
        return response.json()["error_description"]

    assert refused(api_get(oidc, token, nonce=nonce, proof=proof)[0]) == "jti replayed"
    assert refused(api_get(oidc, token, nonce=nonce, scheme="Bearer")[0]) == "DPoP-bound token sent as Bearer"
    key = DPoPKey.from_jwk(token.dpop_jwk or {})
    wrong_method = key.proof("POST", f"{oidc.api}/items", access_token=token.access_token, nonce=nonce)
    assert "htm" in refused(api_get(oidc, token, nonce=nonce, proof=wrong_method)[0])
    wrong_url = key.proof("GET", f"{oidc.api}/other", access_token=token.access_token, nonce=nonce)
    assert "htu" in refused(api_get(oidc, token, nonce=nonce, proof=wrong_url)[0])
    wrong_ath = key.proof("GET", f"{oidc.api}/items", access_token="another-token", nonce=nonce)
    assert "ath" in refused(api_get(oidc, token, nonce=nonce, proof=wrong_ath)[0])
    other_key = DPoPKey.generate().proof("GET", f"{oidc.api}/items", access_token=token.access_token, nonce=nonce)
    assert "cnf.jkt" in refused(api_get(oidc, token, nonce=nonce, proof=other_key)[0])


def test_refresh_keeps_the_key_of_the_token(oidc: OidcServer) -> None:
    profile = OAuthProfile.from_fields(
        "dpop_web",
        host=oidc.api,
        login="web",
        password=oidc.client("web")["client_secret"],
        extra={
            "issuer_url": oidc.issuer,
            "grant_type": "authorization_code",
            "scope": "openid offline_access api:read",
            "dpop": True,
            "redirect_uri": "http://127.0.0.1:8765/callback",
        },
    )
    client = TokenClient(profile)
    from airflow_oauth_connector.grants import build_authorization_request

    request = build_authorization_request(profile, client.endpoints.authorize_url or "")
    landed = oidc.follow_authorization(request.url)
    assert landed["state"] == request.state
    token = client.exchange_code(
        landed["code"], code_verifier=request.code_verifier, redirect_uri=profile.redirect_uri, nonce=request.nonce
    )
    assert token.token_type == "DPoP"
    assert token.refresh_token
    renewed = client.refresh(token.refresh_token, previous=token)
    assert renewed.token_type == "DPoP"
    assert renewed.dpop_jwk == token.dpop_jwk
