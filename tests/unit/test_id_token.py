"""The ID Token check of a code exchange: nonce, audience, issuer and expiry, with signed tokens made by joserfc."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from airflow_oauth_connector.exceptions import IdTokenError, TokenResponseError
from airflow_oauth_connector.id_token import LEEWAY, IdTokenExpectation, check_id_token, expectation
from tests.support.builders import ACCESS, AUTHORIZE_URL, CLIENT_ID, REFRESH, TOKEN_URL, make_client, make_profile
from tests.support.fake_http import FakeTransport

pytestmark = pytest.mark.timeout(30)

NOW = 1_800_000_000.0
ISSUER = "https://auth.example.com"
NONCE = "nonce-Sentinel-4f1c2b9a7d"
KEY = RSAKey.generate_key(2048)


def id_token(**overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT_ID,
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "nonce": NONCE,
    }
    claims.update(overrides)
    return jwt.encode({"alg": "RS256"}, {k: v for k, v in claims.items() if v is not None}, KEY)


EXPECTED = IdTokenExpectation(client_id=CLIENT_ID, nonce=NONCE, issuer=ISSUER)


def check(token: Any, expected: IdTokenExpectation = EXPECTED, now: float = NOW) -> None:
    check_id_token({"access_token": ACCESS, "id_token": token}, expected, now=now)


def test_the_requests_own_id_token_passes() -> None:
    check(id_token())
    check(id_token(aud=["other-app", CLIENT_ID]))  # aud may be a list holding the client (OIDC Core 2)


@pytest.mark.parametrize(
    ("overrides", "claim", "problem"),
    [
        ({"nonce": "nonce-of-another-authorization"}, "nonce", "not the nonce this authorization request sent"),
        ({"nonce": None}, "nonce", "is missing"),
        ({"aud": "another-client"}, "aud", "does not name this connection's client ID"),
        ({"aud": ["a", "b"]}, "aud", "does not name this connection's client ID"),
        ({"aud": None}, "aud", "is missing"),
        ({"iss": "https://evil.example.com"}, "iss", "is not the issuer"),
        ({"iss": None}, "iss", "is missing"),
        ({"exp": int(NOW) - LEEWAY - 1}, "exp", "has expired"),
        ({"iat": int(NOW) + LEEWAY + 60}, "iat", "issued in the future"),
        ({"nbf": int(NOW) + LEEWAY + 60}, "nbf", "not valid yet"),
    ],
)
def test_an_id_token_that_is_not_this_requests_is_refused_naming_the_claim(
    overrides: dict[str, Any], claim: str, problem: str
) -> None:
    with pytest.raises(IdTokenError) as caught:
        check(id_token(**overrides))
    assert caught.value.claim == claim
    message = str(caught.value)
    assert problem in message
    assert "no token was kept" in message
    assert "Authorize again" in message
    for value in (NONCE, "nonce-of-another-authorization", "another-client", "evil.example.com", ACCESS):
        assert value not in message  # a claim's value never appears


def test_clock_skew_within_the_leeway_passes() -> None:
    check(id_token(exp=int(NOW) - LEEWAY + 5, iat=int(NOW) + LEEWAY - 5))


def test_without_a_nonce_sent_none_is_required_but_the_audience_still_is() -> None:
    without = IdTokenExpectation(client_id=CLIENT_ID, nonce=None, issuer=None)
    check(id_token(nonce=None), without)
    check(id_token(nonce="whatever", iss="https://anyone.example.com"), without)  # no issuer known: iss unchecked
    with pytest.raises(IdTokenError, match="'aud'"):
        check(id_token(aud="another-client"), without)


def test_a_templated_issuer_is_not_compared() -> None:
    # Microsoft's multi-tenant metadata names "https://login.microsoftonline.com/{tenantid}/v2.0" as its issuer:
    # https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
    templated = IdTokenExpectation(
        client_id=CLIENT_ID, nonce=NONCE, issuer="https://login.microsoftonline.com/{tenantid}/v2.0"
    )
    check(id_token(iss="https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"), templated)


def test_an_answer_without_an_id_token_or_with_an_encrypted_one_passes() -> None:
    check_id_token({"access_token": ACCESS}, EXPECTED, now=NOW)
    check("eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn")  # JWE: five segments, no key to read it with


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.WzFd.", 42, ["x"]])
def test_an_unreadable_id_token_is_refused(token: Any) -> None:
    with pytest.raises(IdTokenError, match="not a"):
        check(token)


def test_an_id_token_error_is_a_token_response_error() -> None:
    assert issubclass(IdTokenError, TokenResponseError)  # so `except TokenResponseError` keeps matching


@pytest.mark.parametrize(
    ("nonce", "scope", "wanted"),
    [(None, None, False), (None, "read write", False), (None, "openid email", True), ("n-1", None, True)],
)
def test_an_exchange_is_checked_when_its_request_was_openid_connect(
    nonce: str | None, scope: str | None, wanted: bool
) -> None:
    got = expectation(make_profile(scope=scope), nonce, ISSUER)
    assert (got is not None) is wanted
    if got is not None:
        assert got.nonce == nonce
        assert got.client_id == CLIENT_ID
        assert got.issuer == ISSUER
        assert "n-1" not in repr(got)


class IdTokenServer:
    """A token endpoint answering a code exchange with a refresh token and the given ID Token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        body = {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 3600, "refresh_token": REFRESH}
        return 200, {}, {**body, "id_token": self.token}


def _exchange(token: str, nonce: str | None) -> Any:
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, IdTokenServer(token))
    profile = make_profile(grant_type="authorization_code", authorize_url=AUTHORIZE_URL, scope="openid offline_access")
    client = make_client(profile, transport, clock=lambda: NOW)
    return client.exchange_code(
        "the-code", code_verifier="v" * 50, redirect_uri="http://127.0.0.1:8000/cb", nonce=nonce
    )


def test_the_code_exchange_keeps_the_token_when_the_id_token_is_the_requests() -> None:
    assert _exchange(id_token(), NONCE).refresh_token == REFRESH


def test_the_code_exchange_refuses_an_injected_code_naming_connection_and_token_url() -> None:
    with pytest.raises(IdTokenError) as caught:
        _exchange(id_token(nonce="nonce-of-another-authorization"), NONCE)
    message = str(caught.value)
    assert message.startswith(f"Connection 'my_api', token URL {TOKEN_URL}: the ID Token's 'nonce' claim")
    assert caught.value.conn_id == "my_api"
    assert caught.value.claim == "nonce"
    for secret in (ACCESS, REFRESH, NONCE, "the-code", "v" * 50):
        assert secret not in message


def test_an_openid_exchange_without_the_nonce_at_hand_still_checks_the_audience() -> None:
    assert _exchange(id_token(nonce="anything"), None).access_token == ACCESS
    with pytest.raises(IdTokenError, match="'aud'"):
        _exchange(id_token(aud="another-client"), None)


def test_expiry_is_judged_by_the_token_clients_clock() -> None:
    # NOW lies years away from the wall clock: a token valid at NOW passes, one expired at NOW fails.
    assert abs(time.time() - NOW) > 3600
    assert _exchange(id_token(), NONCE).access_token == ACCESS
    with pytest.raises(IdTokenError, match="'exp'"):
        _exchange(id_token(exp=int(NOW) - 3600, iat=int(NOW) - 7200), NONCE)


def test_the_issuer_comes_from_the_issuers_metadata_and_a_foreign_iss_is_refused() -> None:
    transport = FakeTransport()
    metadata = {
        "issuer": ISSUER,
        "authorization_endpoint": AUTHORIZE_URL,
        "token_endpoint": TOKEN_URL,
    }
    transport.route("GET", f"{ISSUER}/.well-known/", lambda request: (200, {}, metadata))
    server = IdTokenServer(id_token())
    transport.route("POST", TOKEN_URL, server)
    profile = make_profile(
        grant_type="authorization_code", with_access_url=False, issuer_url=ISSUER, scope="openid offline_access"
    )
    client = make_client(profile, transport, clock=lambda: NOW)
    assert client.endpoints.issuer == ISSUER
    assert client.exchange_code("c", code_verifier=None, redirect_uri=None, nonce=NONCE).refresh_token == REFRESH
    server.token = id_token(iss="https://auth.example.com/other-tenant")
    with pytest.raises(IdTokenError, match="'iss' claim is not the issuer"):
        client.exchange_code("c", code_verifier=None, redirect_uri=None, nonce=NONCE)
