"""The authorization-code grant: the code exchange's parameters and the authorization request with PKCE S256."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from airflow_oauth_connector.grants import (
    AuthorizationRequest,
    authorization_code_params,
    build_authorization_request,
)
from tests.support.builders import AUTHORIZE_URL, CLIENT_ID, make_profile

REDIRECT = "https://airflow.example.com/oauth/callback"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def auth_code_profile(**extra: object):
    fields = {"grant_type": "authorization_code", "authorize_url": AUTHORIZE_URL}
    fields.update(extra)
    return make_profile(fields)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


# --- the code exchange --------------------------------------------------------------------------------------


def test_authorization_code_params():
    assert authorization_code_params("the-code", None, None) == {"grant_type": "authorization_code", "code": "the-code"}
    assert authorization_code_params("the-code", REDIRECT, "verifier") == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT,
        "code_verifier": "verifier",
    }


# --- authorization request ----------------------------------------------------------------------------------


def test_authorization_request_with_pkce():
    profile = auth_code_profile(scope="read write", redirect_uri=REDIRECT)
    request = build_authorization_request(profile, AUTHORIZE_URL, state="st-123")
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL
    query = query_of(request.url)
    assert {key: values[0] for key, values in query.items()} == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "read write",
        "state": "st-123",
        "code_challenge": s256(request.code_verifier or ""),
        "code_challenge_method": "S256",
    }
    assert all(len(values) == 1 for values in query.values())
    assert request.state == "st-123"
    assert request.redirect_uri == REDIRECT
    verifier = request.code_verifier
    assert verifier is not None
    assert 43 <= len(verifier) <= 128  # RFC 7636 4.1
    assert re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)
    assert verifier not in request.url


def test_state_and_verifier_generated_and_unique():
    profile = auth_code_profile()
    first = build_authorization_request(profile, AUTHORIZE_URL)
    second = build_authorization_request(profile, AUTHORIZE_URL)
    assert first.state
    assert second.state
    assert first.state != second.state
    assert len(first.state) >= 32
    assert first.code_verifier != second.code_verifier
    assert query_of(first.url)["state"] == [first.state]


def test_repr_hides_verifier():
    # The state travels in the URL by design; the PKCE verifier must never leave the server side.
    request = build_authorization_request(auth_code_profile(), AUTHORIZE_URL, state="STATE-XYZ")
    assert request.code_verifier
    assert request.code_verifier not in repr(request)
    assert "code_verifier=" not in repr(request)
    assert isinstance(request, AuthorizationRequest)


def test_redirect_argument_overrides_profile():
    profile = auth_code_profile(redirect_uri=REDIRECT)
    request = build_authorization_request(profile, AUTHORIZE_URL, redirect_uri="https://other.example.com/cb")
    assert query_of(request.url)["redirect_uri"] == ["https://other.example.com/cb"]
    assert request.redirect_uri == "https://other.example.com/cb"


def test_no_redirect_no_scope():
    request = build_authorization_request(auth_code_profile(), AUTHORIZE_URL)
    query = query_of(request.url)
    assert "redirect_uri" not in query
    assert "scope" not in query
    assert request.redirect_uri is None


def test_auth_params_merged_but_cannot_override_protocol_params():
    profile = auth_code_profile(
        authorize_params={
            "prompt": "consent",
            "access_type": "offline",
            "response_type": "token",
            "client_id": "evil",
            "state": "fixed",
        }
    )
    request = build_authorization_request(
        profile,
        AUTHORIZE_URL,
        state="st",
        extra_params={"login_hint": "a@example.com", "response_type": "id_token", "client_id": "evil2", "state": "x"},
    )
    query = query_of(request.url)
    assert query["prompt"] == ["consent"]
    assert query["access_type"] == ["offline"]
    assert query["login_hint"] == ["a@example.com"]
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["state"] == ["st"]


def test_extra_params_override_profile_auth_params():
    profile = auth_code_profile(authorize_params={"prompt": "consent"})
    request = build_authorization_request(profile, AUTHORIZE_URL, extra_params={"prompt": "login"})
    assert query_of(request.url)["prompt"] == ["login"]


@pytest.mark.parametrize("pkce", [False, "false", "off"])
def test_pkce_off_sends_no_challenge(pkce):
    request = build_authorization_request(auth_code_profile(pkce=pkce), AUTHORIZE_URL)
    query = query_of(request.url)
    assert request.code_verifier is None
    assert "code_challenge" not in query
    assert "code_challenge_method" not in query
    assert query["response_type"] == ["code"]


def test_existing_query_in_authorize_url_kept():
    url = "https://auth.example.com/authorize?tenant=t1&prompt=select_account#frag"
    request = build_authorization_request(auth_code_profile(), url, state="st")
    pairs = parse_qsl(urlsplit(request.url).query)
    assert pairs[:2] == [("tenant", "t1"), ("prompt", "select_account")]
    assert ("state", "st") in pairs
    assert ("response_type", "code") in pairs
    assert request.url.startswith("https://auth.example.com/authorize?tenant=t1&prompt=select_account&")
    assert "#" not in request.url


def test_values_are_url_encoded():
    profile = auth_code_profile(scope="openid profile", redirect_uri="https://airflow.example.com/cb?x=1&y=2")
    request = build_authorization_request(profile, AUTHORIZE_URL, state="a b&c")
    query = query_of(request.url)
    assert query["redirect_uri"] == ["https://airflow.example.com/cb?x=1&y=2"]
    assert query["state"] == ["a b&c"]
    assert query["scope"] == ["openid profile"]


def test_openid_scope_adds_a_fresh_nonce_and_resource_indicators_are_repeated():
    from urllib.parse import parse_qs, urlsplit

    from airflow_oauth_connector.grants import build_authorization_request
    from tests.support.builders import AUTHORIZE_URL, make_profile

    profile = make_profile(
        {
            "grant_type": "authorization_code",
            "authorize_url": AUTHORIZE_URL,
            "scope": "openid offline_access",
            "resource": "https://a.example.com/ https://b.example.com/",
        }
    )
    first = build_authorization_request(profile, AUTHORIZE_URL)
    second = build_authorization_request(profile, AUTHORIZE_URL)
    query = parse_qs(urlsplit(first.url).query)
    assert query["nonce"] == [first.nonce]
    assert first.nonce != second.nonce
    assert query["resource"] == ["https://a.example.com/", "https://b.example.com/"]
    assert "nonce" not in parse_qs(
        urlsplit(
            build_authorization_request(
                make_profile({"grant_type": "authorization_code", "authorize_url": AUTHORIZE_URL, "scope": "read"}),
                AUTHORIZE_URL,
            ).url
        ).query
    )
