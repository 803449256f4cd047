"""DPoP proofs (RFC 9449 4.2), the key kept with the token, nonce memory and the challenges recognised."""

from __future__ import annotations

import base64
import hashlib

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from airflow_oauth_connector.dpop import (
    DPoPKey,
    NonceMemory,
    access_token_hash,
    api_nonce_challenge,
    target_uri,
    token_nonce_challenge,
)
from airflow_oauth_connector.exceptions import DPoPError

pytestmark = pytest.mark.timeout(30)


def decode(proof: str) -> tuple[dict, dict]:
    header = jws.extract_compact(proof.encode()).protected
    key = ECKey.import_key(header["jwk"])
    return dict(header), dict(jwt.decode(proof, key, algorithms=["ES256"]).claims)


def test_proof_header_and_claims() -> None:
    key = DPoPKey.generate()
    header, claims = decode(
        key.proof("get", "https://API.example.com/v1/items?page=2#frag", access_token="tok", nonce="n-1", now=1000)
    )
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == "ES256"
    assert "d" not in header["jwk"]  # only the public key is in the proof
    assert header["jwk"] == key.public_jwk
    assert claims["htm"] == "GET"
    assert claims["htu"] == "https://api.example.com/v1/items"
    assert claims["iat"] == 1000
    assert claims["nonce"] == "n-1"
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"tok").digest()).rstrip(b"=").decode()
    assert claims["ath"] == expected == access_token_hash("tok")


def test_every_proof_has_a_new_jti_and_token_requests_have_no_ath() -> None:
    key = DPoPKey.generate()
    claims = [decode(key.proof("POST", "https://as.example.com/token"))[1] for _ in range(3)]
    assert len({c["jti"] for c in claims}) == 3
    assert all("ath" not in c and "nonce" not in c for c in claims)


def test_key_round_trips_through_its_jwk_and_keeps_its_thumbprint() -> None:
    key = DPoPKey.generate()
    again = DPoPKey.from_jwk(key.to_jwk())
    assert again.thumbprint == key.thumbprint
    assert "d" in key.to_jwk()
    assert "d" not in repr(key)


@pytest.mark.parametrize("bad", [{}, {"kty": "EC"}, ECKey.generate_key("P-256").as_dict(private=False)])
def test_unusable_stored_key(bad: dict) -> None:
    with pytest.raises(DPoPError):
        DPoPKey.from_jwk(bad)


def test_target_uri() -> None:
    assert target_uri("HTTPS://Host:8443") == "https://host:8443/"
    assert target_uri("http://127.0.0.1:5000/a/b?x=1") == "http://127.0.0.1:5000/a/b"


def test_nonce_memory_per_origin_ignores_malformed_nonces() -> None:
    nonces = NonceMemory()
    assert nonces.remember("https://as.example.com/token", {"DPoP-Nonce": "abc"}) == "abc"
    assert nonces.get("https://as.example.com/other") == "abc"
    assert nonces.get("https://api.example.com/x") is None
    assert nonces.remember("https://as.example.com/token", {"DPoP-Nonce": 'bad"nonce'}) is None
    assert nonces.remember("https://as.example.com/token", {"DPoP-Nonce": "x" * 600}) is None
    assert nonces.get("https://as.example.com/token") == "abc"


def test_challenges() -> None:
    www = 'DPoP error="use_dpop_nonce", error_description="nonce"'
    assert api_nonce_challenge(401, {"WWW-Authenticate": www, "DPoP-Nonce": "n"})
    assert not api_nonce_challenge(401, {"WWW-Authenticate": www})
    assert not api_nonce_challenge(401, {"WWW-Authenticate": 'DPoP error="invalid_token"', "DPoP-Nonce": "n"})
    assert not api_nonce_challenge(403, {"WWW-Authenticate": www, "DPoP-Nonce": "n"})
    assert token_nonce_challenge(400, "use_dpop_nonce", {"DPoP-Nonce": "n"})
    assert not token_nonce_challenge(400, "invalid_dpop_proof", {"DPoP-Nonce": "n"})
    assert not token_nonce_challenge(400, "use_dpop_nonce", {})
