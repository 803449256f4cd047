"""Signing keys checked against their algorithm, and JWT files read fresh: what fails names the problem only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OctKey, RSAKey

from airflow_oauth_connector.exceptions import JwtMaterialError, KeyPassphraseError
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


def encrypted_pem(private: object, passphrase: bytes, fmt: serialization.PrivateFormat) -> str:
    return private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, fmt, serialization.BestAvailableEncryption(passphrase)
    ).decode()


ENCRYPTED_FORMATS = [
    pytest.param(serialization.PrivateFormat.PKCS8, "-----BEGIN ENCRYPTED PRIVATE KEY-----", id="pkcs8"),
    pytest.param(serialization.PrivateFormat.TraditionalOpenSSL, "Proc-Type: 4,ENCRYPTED", id="traditional"),
]


@pytest.mark.parametrize(("fmt", "marker"), ENCRYPTED_FORMATS)
def test_encrypted_pem_opens_with_its_passphrase(fmt: serialization.PrivateFormat, marker: str) -> None:
    passphrase = "correct horse " + str(time.time_ns())
    pem = encrypted_pem(RSA, passphrase.encode(), fmt)
    assert marker in pem
    key, _kid = load_signing_key(pem, "RS256", passphrase)
    assert isinstance(key, RSAKey)
    assert key.as_dict(private=False)["n"] == RSAKey.import_key(pem_of(RSA)).as_dict(private=False)["n"]


def test_an_encrypted_ec_key_opens_for_its_algorithm() -> None:
    key, _kid = load_signing_key(encrypted_pem(EC, b"pw", serialization.PrivateFormat.PKCS8), "ES256", "pw")
    assert isinstance(key, ECKey)


@pytest.mark.parametrize(("fmt", "marker"), ENCRYPTED_FORMATS)
@pytest.mark.parametrize(
    ("passphrase", "problem"),
    [(None, "passphrase is required"), ("", "passphrase is required"), ("wrong", "could not decrypt")],
)
def test_encrypted_pem_without_the_right_passphrase_is_a_passphrase_problem(
    fmt: serialization.PrivateFormat, marker: str, passphrase: str | None, problem: str
) -> None:
    secret = "s3cret-passphrase"
    pem = encrypted_pem(RSA, secret.encode(), fmt)
    with pytest.raises(KeyPassphraseError, match=problem) as info:
        load_signing_key(pem, "RS256", passphrase)
    assert isinstance(info.value, JwtMaterialError)
    assert secret not in str(info.value)
    assert "wrong" not in str(info.value)
    assert pem.splitlines()[2] not in str(info.value)


def test_a_passphrase_for_an_unencrypted_key_is_not_needed() -> None:
    key, _kid = load_signing_key(pem_of(RSA), "RS256", "unused")
    assert isinstance(key, RSAKey)


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


def test_a_pem_key_is_parsed_once_per_process_and_a_wrong_passphrase_still_fails() -> None:
    from airflow_oauth_connector import jwt_material

    pem = encrypted_pem(RSA, b"right", serialization.PrivateFormat.PKCS8)
    first, _ = load_signing_key(pem, "RS256", "right")
    hits = jwt_material._pem_private_key.cache_info().hits
    second, _ = load_signing_key(pem, "PS256", "right")
    assert jwt_material._pem_private_key.cache_info().hits == hits + 1
    assert first.as_dict(private=False)["n"] == second.as_dict(private=False)["n"]
    with pytest.raises(KeyPassphraseError, match="could not decrypt"):
        load_signing_key(pem, "RS256", "wrong")
