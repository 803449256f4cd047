"""Client authentication on token requests."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, quote_plus

from airflow_oauth_connector.client_auth import CLIENT_AUTH_METHODS, apply_client_auth
from airflow_oauth_connector.profile import ClientAuthMethod
from tests.support.builders import CLIENT_SECRET, TOKEN_URL

BODY = "grant_type=client_credentials&scope=read"


def basic_credentials(headers: dict[str, str]) -> str:
    scheme, _, value = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode("latin-1")


def test_every_method_registered():
    assert set(CLIENT_AUTH_METHODS) == set(ClientAuthMethod)


def test_header_method_uses_http_basic():
    url, headers, body = apply_client_auth(
        ClientAuthMethod.HEADER, "client-id", CLIENT_SECRET, TOKEN_URL, {"Accept": "application/json"}, BODY
    )
    assert url == TOKEN_URL
    assert basic_credentials(headers) == f"client-id:{CLIENT_SECRET}"
    assert headers["Accept"] == "application/json"
    assert body == BODY
    assert CLIENT_SECRET not in body
    assert "client_secret" not in body
    assert "client_id" not in body


def test_body_method_puts_credentials_in_form():
    url, headers, body = apply_client_auth(ClientAuthMethod.BODY, "client-id", CLIENT_SECRET, TOKEN_URL, {}, BODY)
    assert url == TOKEN_URL
    assert "Authorization" not in headers
    form = parse_qs(body)
    assert form == {
        "grant_type": ["client_credentials"],
        "scope": ["read"],
        "client_id": ["client-id"],
        "client_secret": [CLIENT_SECRET],
    }


def test_body_method_form_encodes_special_characters():
    _, _, body = apply_client_auth(ClientAuthMethod.BODY, "id&x=1", "p+s/=%&", TOKEN_URL, {}, "")
    assert parse_qs(body) == {"client_id": ["id&x=1"], "client_secret": ["p+s/=%&"]}


def test_none_method_puts_only_client_id():
    url, headers, body = apply_client_auth(ClientAuthMethod.NONE, "public-id", None, TOKEN_URL, {}, BODY)
    assert url == TOKEN_URL
    assert "Authorization" not in headers
    form = parse_qs(body)
    assert form["client_id"] == ["public-id"]
    assert "client_secret" not in form
    assert form["grant_type"] == ["client_credentials"]


def test_none_method_never_sends_a_secret_it_was_given():
    _, headers, body = apply_client_auth(ClientAuthMethod.NONE, "public-id", CLIENT_SECRET, TOKEN_URL, {}, BODY)
    assert CLIENT_SECRET not in body
    assert "Authorization" not in headers


def test_header_method_returns_plain_dict():
    headers: dict[str, str] = {}
    _, new_headers, _ = apply_client_auth(ClientAuthMethod.HEADER, "a", "b", TOKEN_URL, headers, "")
    assert "Authorization" in new_headers
    assert isinstance(new_headers, dict)


def test_header_method_form_encodes_credentials_rfc6749_2_3_1():
    _, headers, _ = apply_client_auth(ClientAuthMethod.HEADER, "id:1", "p+s%2F", TOKEN_URL, {}, "")
    assert basic_credentials(headers) == f"{quote_plus('id:1')}:{quote_plus('p+s%2F')}"
