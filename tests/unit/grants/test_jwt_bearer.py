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
from tests.support.builders import box_app_config, make_client, rsa_private_pem
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


def test_a_corrupt_pem_is_refused_with_the_settings_without_key_material():
    pem = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ProfileError) as info:
        profile(pem, login="x", access_url=GOOGLE_TOKEN_URL)
    assert info.value.field == "password"
    assert "could not be parsed" in info.value.problem
    assert "c2VjcmV0" not in str(info.value)
    assert info.value.__cause__ is None


# --- Box (JWT server authentication) and DocuSign (JWT grant) presets -------------------------------------------

BOX_TOKEN_URL = "https://api.box.com/oauth2/token"


def _public_of(pem: str, passphrase: str | None = None):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    private = load_pem_private_key(pem.encode(), password=passphrase.encode() if passphrase else None)
    return import_key(private.public_key(), "RSA")


def test_box_jwt_sends_the_app_config_credentials_in_the_body_and_box_claims():
    passphrase = "box-passphrase-Sentinel"
    pem = rsa_private_pem(passphrase)
    config = box_app_config(pem, passphrase=passphrase, enterprise_id="7654321")
    p = OAuthProfile.from_fields("box", host=None, login=None, password=config, extra={"provider": "box_jwt"})
    transport = FakeTransport()
    transport.route("POST", BOX_TOKEN_URL, lambda r: (200, {}, {"access_token": "box-at", "expires_in": 4000}))
    token = make_client(p, transport, clock=lambda: 1000.0).obtain_without_person()
    assert token.access_token == "box-at"
    sent = form(transport.requests[0])
    assert "authorization" not in {k.lower() for k in transport.requests[0].headers}
    assert (sent["client_id"], sent["client_secret"]) == ("box-client-id", "box-client-secret-Sentinel")
    assert sent["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    decoded = jwt.decode(sent["assertion"], _public_of(pem, passphrase), algorithms=["RS256"])
    assert decoded.header["kid"] == "kid-box-1"
    claims = decoded.claims
    assert (claims["iss"], claims["sub"], claims["box_sub_type"]) == ("box-client-id", "7654321", "enterprise")
    assert claims["aud"] == BOX_TOKEN_URL
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert 16 <= len(claims["jti"]) <= 128


def test_box_jwt_for_a_user_token():
    pem = rsa_private_pem()
    p = OAuthProfile.from_fields(
        "box",
        host=None,
        login=None,
        password=box_app_config(pem),
        extra={"provider": "box_jwt", "provider_params": {"subject_type": "user"}, "jwt_subject": "20001"},
    )
    claims = jwt.decode(jwt_bearer.assertion(p, BOX_TOKEN_URL), _public_of(pem)).claims
    assert (claims["sub"], claims["box_sub_type"]) == ("20001", "user")


def test_docusign_jwt_assertion_has_the_host_as_audience_and_the_scope_claim():
    pem = rsa_private_pem()
    user = "4799e5e9-1559-4915-9862-cf4713bbcacc"
    p = OAuthProfile.from_fields(
        "ds",
        host=None,
        login="integration-key-1",
        password=pem,
        extra={"provider": "docusign_jwt", "provider_params": {"environment": "account-d", "user_id": user}},
    )
    assert p.access_url == "https://account-d.docusign.com/oauth/token"
    params = jwt_bearer.grant_params(p, p.access_url)
    assert "scope" not in params
    claims = jwt.decode(params["assertion"], _public_of(pem)).claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("integration-key-1", user, "account-d.docusign.com")
    assert claims["scope"] == "signature impersonation"
    assert claims["exp"] - claims["iat"] <= 3600
