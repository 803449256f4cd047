"""DPoP on API requests through the request flow: a proof per request, the API's nonce replayed once, a loop refused."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest
from joserfc import jws

from airflow_oauth_connector.dpop import DPoPKey, access_token_hash
from airflow_oauth_connector.exceptions import DPoPError
from airflow_oauth_connector.flow import OAuthAuth, OAuthSession, RequestFlow
from airflow_oauth_connector.token import Token
from tests.support.builders import make_profile
from tests.support.fake_http import FakeTransport

pytestmark = pytest.mark.timeout(30)

KEY = DPoPKey.generate()
CHALLENGE = {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n-1"}


class Tokens:
    def __init__(self, token: Token) -> None:
        self.token = token
        self.renewals = 0

    def get_token(self) -> Token:
        return self.token

    def refresh_after_rejection(self, rejected: Token) -> Token:
        self.renewals += 1
        return self.token


def session(transport: FakeTransport, token: Token | None = None) -> tuple[OAuthSession, Tokens]:
    tokens = Tokens(token or Token(access_token="tok-1", token_type="DPoP", dpop_jwk=MappingProxyType(KEY.to_jwk())))
    flow = RequestFlow.for_profile(make_profile(dpop=True))
    s = OAuthSession("https://api.example.com/v1", OAuthAuth(tokens, flow))
    s.mount("https://", transport)
    return s, tokens


def proof_claims(request) -> dict:
    return json.loads(jws.extract_compact(request.headers["DPoP"].encode()).payload)


def test_dpop_scheme_and_a_fresh_proof_per_request():
    transport = FakeTransport()
    transport.route("GET", "https://api.example.com/", lambda r: (200, {}, {"ok": True}))
    s, _ = session(transport)
    s.get("https://api.example.com/v1/items?page=2")
    s.get("https://api.example.com/v1/items?page=3")
    first, second = transport.requests
    assert first.headers["Authorization"] == "DPoP tok-1"
    a, b = proof_claims(first), proof_claims(second)
    assert a["jti"] != b["jti"]
    assert a["htm"] == "GET"
    assert a["htu"] == "https://api.example.com/v1/items"
    assert a["ath"] == access_token_hash("tok-1")
    assert jws.extract_compact(first.headers["DPoP"].encode()).protected["jwk"] == KEY.public_jwk


def test_nonce_challenge_is_replayed_once_with_the_nonce_and_the_same_token():
    transport = FakeTransport()
    transport.route(
        "GET",
        "https://api.example.com/",
        lambda r: (200, {}, {}) if "nonce" in proof_claims(r) else (401, CHALLENGE, {}),
    )
    s, tokens = session(transport)
    assert s.get("https://api.example.com/v1/items").status_code == 200
    assert [proof_claims(r).get("nonce") for r in transport.requests] == [None, "n-1"]
    assert tokens.renewals == 0
    s.get("https://api.example.com/v1/items")  # the nonce is remembered
    assert len(transport.requests) == 3


def test_a_nonce_loop_fails_at_once_without_renewing_the_token():
    transport = FakeTransport()
    transport.route("GET", "https://api.example.com/", lambda r: (401, CHALLENGE, {}))
    s, tokens = session(transport)
    with pytest.raises(DPoPError, match="'dpop'"):
        s.get("https://api.example.com/v1/items")
    assert len(transport.requests) == 2
    assert tokens.renewals == 0


def test_a_token_without_a_key_is_refused_naming_the_field():
    transport = FakeTransport()
    transport.route("GET", "https://api.example.com/", lambda r: (200, {}, {}))
    s, _ = session(transport, Token(access_token="tok-1"))
    with pytest.raises(DPoPError, match="'dpop'"):
        s.get("https://api.example.com/v1/items")
    assert transport.requests == []
