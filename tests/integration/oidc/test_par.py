"""Pushed authorization requests (RFC 9126), resource indicators and the OIDC nonce in the Authorize flow,
against oidc-provider: one issuer that requires PAR in its metadata, one whose client requires it; the ID Token
of each exchange is checked against the request's nonce (a code injected from another authorization is refused)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_oauth_connector.exceptions import IdTokenError, ProfileError
from airflow_oauth_connector.profile import OAuthProfile
from airflow_oauth_connector.token_client import TokenClient
from tests.support.oidc import REDIRECT_URI, OidcServer, private_pem

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def web_profile(server: OidcServer, client: str, issuer: str, password: str | None = None, **extra: object):
    c = server.client(client)
    return OAuthProfile.from_fields(
        f"par_{client}",
        host=server.api,
        login=c["client_id"],
        password=password or c.get("client_secret"),
        extra={
            "issuer_url": issuer,
            "grant_type": "authorization_code",
            "scope": "openid offline_access api:read",
            "redirect_uri": REDIRECT_URI,
            **extra,
        },
    )


def authorize(server: OidcServer, profile: OAuthProfile) -> tuple[dict[str, list[str]], str]:
    """Run the Authorize flow's request as the CLI and the plugin do; the browser URL's query and the refresh token."""
    client = TokenClient(profile)
    request = client.authorization_request(redirect_uri=REDIRECT_URI)
    browser_query = parse_qs(urlsplit(request.url).query)
    landed = server.follow_authorization(request.url)
    assert landed.get("state") == request.state, landed
    token = client.exchange_code(
        landed["code"], code_verifier=request.code_verifier, redirect_uri=REDIRECT_URI, nonce=request.nonce
    )
    assert token.refresh_token
    assert client.refresh(token.refresh_token).access_token
    return browser_query, token.access_token


def test_metadata_requiring_par_makes_the_flow_push(oidc: OidcServer) -> None:
    query, _ = authorize(oidc, web_profile(oidc, "web", oidc.par_issuer))
    assert set(query) == {"client_id", "request_uri"}  # nothing else reaches the browser
    assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    assert oidc.stats()["par"] == 1


def test_par_extra_for_a_client_that_requires_it_with_private_key_jwt(oidc: OidcServer) -> None:
    profile = web_profile(
        oidc,
        "web_jwt",
        oidc.issuer,
        password=private_pem(oidc.keys["pkjwt_es"]),
        client_auth="private_key_jwt",
        signing_alg="ES256",
        par=True,
    )
    query, _ = authorize(oidc, profile)
    assert set(query) == {"client_id", "request_uri"}
    assert oidc.stats()["par"] == 1


def test_without_par_a_client_that_requires_it_is_refused_and_par_true_fixes_it(oidc: OidcServer) -> None:
    plain = web_profile(oidc, "web_par", oidc.issuer, par=False)
    request = TokenClient(plain).authorization_request(redirect_uri=REDIRECT_URI)
    landed = oidc.follow_authorization(request.url)
    assert landed.get("error") == "invalid_request"
    query, _ = authorize(oidc, web_profile(oidc, "web_par", oidc.issuer, par=True))
    assert set(query) == {"client_id", "request_uri"}


def test_no_par_when_not_required_and_nonce_and_resource_reach_the_browser(oidc: OidcServer) -> None:
    profile = web_profile(oidc, "web", oidc.issuer, resource=oidc.resource)
    query, access_token = authorize(oidc, profile)
    assert query["nonce"][0]
    assert query["resource"] == [oidc.resource]
    assert oidc.stats()["par"] == 0
    import requests

    answer = requests.get(f"{oidc.api}/items", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["sub"] == "alice"


def test_par_true_without_metadata_names_the_field(oidc: OidcServer) -> None:
    profile = OAuthProfile.from_fields(
        "par_explicit",
        host=oidc.api,
        login="web",
        password=oidc.client("web")["client_secret"],
        extra={
            "grant_type": "authorization_code",
            "access_url": f"{oidc.issuer}/token",
            "authorize_url": f"{oidc.issuer}/auth",
            "par": True,
        },
    )
    with pytest.raises(ProfileError) as info:
        TokenClient(profile).authorization_request(redirect_uri=REDIRECT_URI)
    assert info.value.field == "par"


def test_a_code_from_another_authorization_is_refused_by_its_id_tokens_nonce(oidc: OidcServer) -> None:
    # OIDC Core 3.1.3.7 step 11, 15.5.2: an attacker's code injected into a victim's callback comes with the
    # attacker's ID Token, whose nonce is not the victim's request's. oidc-provider signs the real ID Tokens.
    profile = web_profile(oidc, "web", oidc.issuer, pkce=False)  # PKCE off: only the nonce binds the code here
    client = TokenClient(profile)
    victims = client.authorization_request(redirect_uri=REDIRECT_URI)
    attackers = client.authorization_request(redirect_uri=REDIRECT_URI)
    assert victims.nonce
    assert attackers.nonce != victims.nonce
    injected = oidc.follow_authorization(attackers.url)["code"]
    with pytest.raises(IdTokenError) as caught:
        client.exchange_code(injected, code_verifier=None, redirect_uri=REDIRECT_URI, nonce=victims.nonce)
    assert caught.value.claim == "nonce"
    assert str(caught.value).startswith(f"Connection 'par_web', token URL {oidc.issuer}/token: the ID Token's")
    assert victims.nonce not in str(caught.value)
    assert attackers.nonce not in str(caught.value)
    honest = oidc.follow_authorization(victims.url)["code"]
    token = client.exchange_code(honest, code_verifier=None, redirect_uri=REDIRECT_URI, nonce=victims.nonce)
    assert token.refresh_token
    assert client.endpoints.issuer == oidc.issuer  # iss was compared with the metadata's issuer
