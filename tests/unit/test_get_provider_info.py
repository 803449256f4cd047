from __future__ import annotations

import pytest
from airflow.sdk._shared.secrets_masker.secrets_masker import should_hide_value_for_key

from airflow_oauth_connector.fields import conn_fields
from airflow_oauth_connector.get_provider_info import get_provider_info
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.presets import CUSTOM, load_preset, preset_names
from airflow_oauth_connector.profile import OAuthProfile
from tests.support.builders import rsa_private_pem

CONN_FIELDS = conn_fields()

SECRET_KEYS = {"refresh_token", "user_password", "jwt_key_passphrase"}
#: Named by the issue (RFC 8693's parameter names); masked by Airflow for the word "token", though they hold a
#: path and URNs. Masking hides them in the UI, which costs nothing: they are no secret, but no harm when hidden.
MASKED_BY_NAME = {"subject_token_file", "subject_token_type", "requested_token_type"}
#: What an enum value needs besides the defaults to make a valid profile.
NEEDS = {
    "private_key_jwt": {"signing_alg": "ES256"},
    "client_assertion_file": {"client_assertion_file": "/var/run/secrets/token"},
    "token_exchange": {"subject_token_file": "/var/run/secrets/token"},
}


def test_connection_type_is_declared_with_conn_fields():
    info = get_provider_info()
    assert info["package-name"] == "airflow-oauth-connector"
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == OAuthConnectorHook.conn_type
    module, _, name = conn_type["hook-class-name"].rpartition(".")
    assert name == OAuthConnectorHook.__name__
    assert module == OAuthConnectorHook.__module__
    assert set(conn_type["conn-fields"]) >= {
        "grant_type",
        "access_url",
        "authorize_url",
        "scope",
        "client_auth",
        "access_params",
        "authorize_params",
        "redirect_uri",
        "pkce",
        "issuer_url",
    }
    assert conn_type["ui-field-behaviour"]["relabeling"]["host"] == "API base URL (required)"


def test_the_provider_info_declares_the_fields_definitions_with_every_preset():
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["conn-fields"] == CONN_FIELDS
    provider = conn_type["conn-fields"]["provider"]["schema"]
    assert provider["enum"] == [CUSTOM, *preset_names()]
    assert provider["values_display"] == {CUSTOM: "Custom (no preset)"} | {
        slug: load_preset(slug).name for slug in preset_names()
    }


@pytest.mark.parametrize("key", sorted(CONN_FIELDS))
def test_masking_trap_secrets_masked_settings_readable(key):
    assert should_hide_value_for_key(key) == (key in SECRET_KEYS | MASKED_BY_NAME)
    is_password = CONN_FIELDS[key]["schema"].get("format") == "password"
    assert is_password == (key in SECRET_KEYS)


def test_enum_defaults_are_accepted_by_the_profile_parser():
    extra = {k: v["schema"]["default"] for k, v in CONN_FIELDS.items() if "default" in v["schema"]}
    extra["access_url"] = "https://auth.example.com/token"
    profile = OAuthProfile.from_fields("x", host="https://api.example.com", login="id", password="pw", extra=extra)
    assert profile.grant_type.value == "client_credentials"
    for key in ("grant_type", "client_auth"):
        for value in CONN_FIELDS[key]["schema"]["enum"]:
            fields = {
                **extra,
                key: value,
                "authorize_url": "https://auth.example.com/authorize",
                **NEEDS.get(value, {}),
            }
            fields.update(custom_grant_type="account_credentials", username="u", user_password="p")
            password = {
                "private_key_jwt": _ec_pem(),
                "client_secret_jwt": "k" * 32,
                "jwt_bearer": rsa_private_pem(),
            }.get(value, "pw")
            OAuthProfile.from_fields("x", host="https://api.example.com", login="id", password=password, extra=fields)


def _ec_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
