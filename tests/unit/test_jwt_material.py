"""Signing keys checked against their algorithm, and JWT files read fresh: what fails names the problem only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OctKey, RSAKey

from airflow_oauth_connector.exceptions import JwtMaterialError
from airflow_oauth_connector.jwt_material import check_hmac_secret, load_signing_key, read_jwt_file
from tests.support.builders import make_jwt


def pem_of(private: object, *, public: bool = False) -> str:
    if public:
        return (
            private.public_key()
            .public_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
    return private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    ("private", "alg"),
    [(RSA, "RS256"), (RSA, "PS256"), (EC, "ES256"), (ed25519.Ed25519PrivateKey.generate(), "EdDSA")],
)
def test_pem_keys_load_for_their_algorithm(private: object, alg: str) -> None:
    key, kid = load_signing_key(pem_of(private), alg)
    assert key.is_private
    assert kid is None


def test_a_jwk_keeps_its_kid() -> None:
    jwk = {**ECKey.generate_key("P-256", private=True).as_dict(private=True), "kid": "k-7"}
    _, kid = load_signing_key(json.dumps(jwk), "ES256")
    assert kid == "k-7"


@pytest.mark.parametrize(
    ("text", "alg", "problem"),
    [
        ("garbage", "RS256", "neither a PEM private key nor a JWK"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "RS256", "could not be parsed"),
        (pem_of(RSA, public=True), "RS256", "public key"),
        (pem_of(EC), "RS256", "is an EC key, but signing_alg RS256 needs an RSA key"),
        (pem_of(RSA), "ES256", "is an RSA key, but signing_alg ES256 needs an EC key"),
        (pem_of(EC), "ES384", "needs P-384"),
        (json.dumps(OctKey.generate_key(256).as_dict(private=True)), "RS256", "symmetric"),
        (json.dumps(RSAKey.generate_key(2048).as_dict(private=False)), "RS256", "public key"),
        ('{"kty": "RSA"}', "RS256", "could not be parsed"),
        (pem_of(RSA), "none", "unsupported signing algorithm"),
        (pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "RS256", "shorter than 2048"),
    ],
)
def test_unusable_keys_fail_with_the_problem_and_no_key_material(text: str, alg: str, problem: str) -> None:
    with pytest.raises(JwtMaterialError) as info:
        load_signing_key(text, alg)
    assert problem in str(info.value)
    assert "BEGIN" not in str(info.value)
    assert '"d"' not in str(info.value)


def test_encrypted_pem_is_refused_with_advice() -> None:
    encrypted = RSA.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(JwtMaterialError, match="encrypted PEM"):
        load_signing_key(encrypted, "RS256")


def test_hmac_secret_length_and_algorithm() -> None:
    check_hmac_secret("x" * 32, "HS256")
    with pytest.raises(JwtMaterialError, match="shorter than 32 bytes"):
        check_hmac_secret("short", "HS256")
    with pytest.raises(JwtMaterialError, match="expected one of HS256"):
        check_hmac_secret("x" * 64, "RS256")


def test_jwt_file_is_read_fresh_each_time(tmp_path: Path) -> None:
    path = tmp_path / "token"
    first, second = make_jwt(n=1), make_jwt(n=2)
    path.write_text(first + "\n")
    assert read_jwt_file(str(path)) == first
    path.write_text(second)
    assert read_jwt_file(str(path)) == second


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("", "empty"),
        ("  \n", "empty"),
        ("secret-looking-text", "does not hold a JWT"),
        ("a.b.c", "does not hold a JWT"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0", "does not hold a JWT"),
        ("x" * 70000, "larger than 64 KiB"),
    ],
)
def test_jwt_file_problems(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(JwtMaterialError) as info:
        read_jwt_file(str(path))
    assert problem in str(info.value)
    assert str(path) in str(info.value)
    if content and content.strip():
        assert content[:20] not in str(info.value)


def test_expired_jwt_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    token = make_jwt(exp=int(time.time()) - 5)
    path.write_text(token)
    with pytest.raises(JwtMaterialError, match="expired at") as info:
        read_jwt_file(str(path))
    assert token not in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(JwtMaterialError, match="is a directory"):
        read_jwt_file(str(tmp_path))
