"""The JWT bearer grant (RFC 7523 2.1) from a Google-format service-account key or a PEM key."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import import_key

from airflow_oauth_connector.exceptions import ProfileError
from airflow_oauth_connector.grants import jwt_bearer
from airflow_oauth_connector.profile import OAuthProfile
from tests.support.builders import make_client
from tests.support.fake_http import FakeTransport, form

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def google_key(pem: str) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "kid-123",
            "private_key": pem,
            "client_email": "etl@p.iam.gserviceaccount.com",
            "client_id": "1234",
            "token_uri": GOOGLE_TOKEN_URL,
        }
    )


def profile(password: str, login: str | None = None, **extra) -> OAuthProfile:
    fields = {"grant_type": "jwt_bearer", **extra}
    return OAuthProfile.from_fields(
        "sa", host="https://www.googleapis.com", login=login, password=password, extra=fields
    )


def test_google_key_file_fills_issuer_audience_kid_and_token_url(rsa_pem):
    p = profile(google_key(rsa_pem), scope="https://www.googleapis.com/auth/drive.readonly", jwt_scope_in_claim=True)
    assert p.access_url == GOOGLE_TOKEN_URL
    assert p.client_id == "etl@p.iam.gserviceaccount.com"
    assert p.client_secret is None
    assert rsa_pem not in repr(p)
    transport = FakeTransport()
    transport.route("POST", GOOGLE_TOKEN_URL, lambda r: (200, {}, {"access_token": "ya29", "expires_in": 3599}))
    token = make_client(p, transport, clock=lambda: 1000.0).obtain_without_person()
    assert token.access_token == "ya29"
    sent = form(transport.requests[0])
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert "scope" not in sent  # Google wants it as a claim
    public = import_key(rsa_pem, "RSA")
    decoded = jwt.decode(sent["assertion"], public, algorithms=["RS256"])
    assert decoded.header["kid"] == "kid-123"
    claims = decoded.claims
    assert claims["iss"] == "etl@p.iam.gserviceaccount.com"
    assert claims["aud"] == GOOGLE_TOKEN_URL
    assert claims["scope"] == "https://www.googleapis.com/auth/drive.readonly"
    assert claims["exp"] - claims["iat"] == 3600


def test_pem_key_with_subject_audience_and_scope_parameter(rsa_pem):
    p = profile(
        rsa_pem,
        login="3MVG9-consumer-key",
        access_url="https://login.salesforce.com/services/oauth2/token",
        jwt_audience="https://login.salesforce.com",
        jwt_subject="etl@acme.com",
        jwt_lifetime=180,
        scope="api",
    )
    params = jwt_bearer.grant_params(p, p.access_url or "")
    claims = jwt.decode(params["assertion"], import_key(rsa_pem, "RSA")).claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        "3MVG9-consumer-key",
        "etl@acme.com",
        "https://login.salesforce.com",
    )
    assert claims["exp"] - claims["iat"] == 180
    assert params["scope"] == "api"


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ('{"type": "service_account", "private_key": "MIIsecretmaterial"}', "no PEM"),
        ('{"private_key": ', "not valid JSON"),
        ('{"private_key": ' + "[" * 5000, "not valid JSON"),  # nested too deeply: a RecursionError before
        ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-secret", "expected a PEM private key"),
    ],
)
def test_invalid_keys_name_the_field_without_key_material(password, problem):
    with pytest.raises(ProfileError) as info:
        profile(password, access_url=GOOGLE_TOKEN_URL, login="x")
    assert info.value.field == "password"
    assert problem in info.value.problem
    assert "secretmaterial" not in str(info.value)
    assert "MIIEvQ" not in str(info.value)


def test_a_corrupt_pem_is_refused_at_signing_without_key_material():
    pem = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
    p = profile(pem, login="x", access_url=GOOGLE_TOKEN_URL)
    with pytest.raises(ProfileError) as info:
        jwt_bearer.assertion(p, GOOGLE_TOKEN_URL)
    assert info.value.field == "password"
    assert "c2VjcmV0" not in str(info.value)
    assert info.value.__cause__ is None
